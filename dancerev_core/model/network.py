"""The Seq2Seq dance model: a local-attention transformer encoder and a stacked-LSTM decoder.

Encoder: linear 438 (440 with `beat_phase`, ours) -> d_model plus fixed sinusoidal positions,
then n_layers post-norm transformer layers (the paper's) whose self-attention only sees
frames within +-window.
Decoder: linear pose -> pose embedding, dropout, stacked LSTM cells; the pose at frame i is a
linear layer on [top hidden state ; encoder output at frame i]. With `decoder_reads_music`
(ours, off in the paper) the first LSTM layer reads [pose embedding ; encoder output at
frame i] too.

Decoder conventions (ours, documented because the paper leaves them open):
- step i predicts pose i; its input is "the previous frame" (ground truth i-1 or the model's
  own prediction of i-1); at step 0 that is the "beginning of pose" frame, all zeros (in the
  root-relative layout: every joint on the root, the root at the image/world origin). The
  authors use a mean pose; zeros is learnt just as well and needs no data.
- the initial (h, c) of every LSTM layer is standard-normal noise, as in the authors' code;
  it is what makes several dances for one song differ, and is drawn from a `torch.Generator`
  when one is given (CPU generator -> identical draws on CPU and CUDA).
- layers are stacked the standard way (layer l+1 reads layer l's new h). The authors' code
  feeds layer l+1 the previous step's h of layer l, delaying the input by one step per layer;
  we follow the paper's description, not that quirk.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DanceRevError
from .beat_phase import PHASE_CHANNELS, beat_phase
from .config import ModelConfig

DEFAULT_ENCODE_CHUNK = 2048  # frames per encoder window in generate (2.3 min at 15 fps)


def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def sinusoid_positions(start: int, length: int, dim: int) -> torch.Tensor:
    """Transformer position codes for absolute frames start .. start+length-1 (length x dim).

    Computed, not tabulated, so any song length works and a window of a song gets exactly the
    codes its frames have in the whole song.
    """
    position = np.arange(start, start + length, dtype=np.float64)[:, None]
    rate = np.power(10000.0, 2 * (np.arange(dim) // 2) / dim)[None, :]
    angle = position / rate
    angle[:, 0::2] = np.sin(angle[:, 0::2])
    angle[:, 1::2] = np.cos(angle[:, 1::2])
    return torch.from_numpy(angle.astype(np.float32))


def local_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int,
                    dropout: float = 0.0, training: bool = False) -> torch.Tensor:
    """Softmax attention where query i sees keys i-window .. i+window; memory O(T * window).

    q, k: (..., T, d_k); v: (..., T, d_v). Equal to full attention with a band mask, without
    ever forming T x T: the queries are cut into blocks of c = window frames; block b (frames
    b*c .. b*c+c-1) can only see keys b*c-w .. b*c+c-1+w, a span of c+2w frames that
    `unfold` takes from the zero-padded keys as a view. Scores are (blocks, c, c+2w), i.e.
    about 3 * T * w; a fixed (c, c+2w) band and a per-block validity mask (keys before 0 or
    after T) are filled with the dtype's lowest value. When the window covers the whole
    sequence (w >= T-1) it is plain full attention.
    """
    length, d_k = q.shape[-2], q.shape[-1]
    scale = 1.0 / math.sqrt(d_k)
    if window >= length - 1:
        probs = torch.softmax((q @ k.transpose(-1, -2)) * scale, dim=-1)
        return F.dropout(probs, dropout, training) @ v
    c = max(window, 1)
    blocks = -(-length // c)
    pad = blocks * c - length
    span = c + 2 * window
    lead = q.shape[:-2]
    qb = F.pad(q, (0, 0, 0, pad)).reshape(*lead, blocks, c, d_k)
    kb = F.pad(k, (0, 0, window, window + pad)).unfold(-2, span, c)  # (..., blocks, d_k, span)
    vb = F.pad(v, (0, 0, window, window + pad)).unfold(-2, span, c)  # (..., blocks, d_v, span)
    scores = (qb @ kb) * scale  # (..., blocks, c, span)
    device = q.device
    row = torch.arange(c, device=device)[:, None]
    col = torch.arange(span, device=device)[None, :]
    band = (col >= row) & (col <= row + 2 * window)  # key slot s holds frame b*c - w + s
    key_frame = torch.arange(blocks, device=device)[:, None] * c - window + col
    valid = (key_frame >= 0) & (key_frame < length)
    allowed = band[None, :, :] & valid[:, None, :]  # (blocks, c, span)
    scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    probs = F.dropout(torch.softmax(scores, dim=-1), dropout, training)
    out = probs @ vb.transpose(-1, -2)  # (..., blocks, c, d_v)
    return out.reshape(*lead, blocks * c, v.shape[-1])[..., :length, :]


class LocalSelfAttention(nn.Module):
    """Multi-head self-attention over +-window frames, residual and layer norm (post-norm)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_heads, self.d_k, self.d_v = config.n_heads, config.d_k, config.d_v
        self.window, self.dropout = config.window, config.dropout
        d = config.d_model
        self.w_q = nn.Linear(d, config.n_heads * config.d_k)
        self.w_k = nn.Linear(d, config.n_heads * config.d_k)
        self.w_v = nn.Linear(d, config.n_heads * config.d_v)
        self.fc = nn.Linear(config.n_heads * config.d_v, d)
        self.drop = nn.Dropout(config.dropout)
        self.norm = nn.LayerNorm(d)
        # the initialisation of the transformer implementation the paper builds on
        nn.init.normal_(self.w_q.weight, std=math.sqrt(2.0 / (d + config.d_k)))
        nn.init.normal_(self.w_k.weight, std=math.sqrt(2.0 / (d + config.d_k)))
        nn.init.normal_(self.w_v.weight, std=math.sqrt(2.0 / (d + config.d_v)))
        nn.init.xavier_normal_(self.fc.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.w_q(x).view(b, t, self.n_heads, self.d_k).transpose(1, 2)
        k = self.w_k(x).view(b, t, self.n_heads, self.d_k).transpose(1, 2)
        v = self.w_v(x).view(b, t, self.n_heads, self.d_v).transpose(1, 2)
        y = local_attention(q, k, v, self.window, self.dropout, self.training)
        y = y.transpose(1, 2).reshape(b, t, self.n_heads * self.d_v)
        return self.norm(x + self.drop(self.fc(y)))


class FeedForward(nn.Module):
    """Position-wise two-layer MLP, residual and layer norm (post-norm)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.w_1 = nn.Linear(config.d_model, config.d_inner)
        self.w_2 = nn.Linear(config.d_inner, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.norm = nn.LayerNorm(config.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.drop(self.w_2(F.relu(self.w_1(x)))))


class EncoderLayer(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.attention = LocalSelfAttention(config)
        self.feed_forward = FeedForward(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feed_forward(self.attention(x))


class Encoder(nn.Module):
    """Music features (B, T, num_features) -> (B, T, d_model).

    Features are first scaled by the training data's per-channel mean and spread when the
    config holds them (`music_mean`, `music_scale`): as extracted, the MFCCs span hundreds
    while the onset and beat channels, which carry the timing, span about one, so the first
    linear layer hears little else than timbre. The statistics live in the config (JSON),
    not in the weights.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.d_model = config.d_model
        self.reads_phase = config.beat_phase
        inputs = config.num_features + (PHASE_CHANNELS if self.reads_phase else 0)
        self.embed = nn.Linear(inputs, config.d_model)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.n_layers))
        self.scaled = bool(config.music_scale)
        if self.scaled:
            self.register_buffer("feature_mean", torch.tensor(config.music_mean),
                                 persistent=False)
            self.register_buffer("feature_scale", torch.tensor(config.music_scale),
                                 persistent=False)

    def forward(self, features: torch.Tensor, start: int = 0) -> torch.Tensor:
        """`start` is the absolute frame of features[:, 0] (for windows of a longer song)."""
        phase = beat_phase(features) if self.reads_phase else None
        if self.scaled:
            features = ((features - self.feature_mean.to(features.dtype))
                        / self.feature_scale.to(features.dtype))
        if phase is not None:
            features = torch.cat([features, phase], dim=-1)
        positions = sinusoid_positions(start, features.shape[1], self.d_model)
        x = self.embed(features) + positions.to(features.device, features.dtype)
        for layer in self.layers:
            x = layer(x)
        return x


LSTMState = list[tuple[torch.Tensor, torch.Tensor]]


def decoder_runs(ground_truth: list[bool]) -> list[tuple[int, int]]:
    """The decoder steps [start, stop) that `Seq2Seq._forward_runs` takes together.

    Maximal runs of known inputs (ground truth; step 0's zero frame is always known), and
    each self-fed step alone, since its input is the step before's output.
    """
    runs, start = [], 0
    known = [True] + ground_truth[1:]
    for i in range(1, len(known) + 1):
        if i == len(known) or not known[i] or not known[start]:
            runs.append((start, i))
            start = i
    return runs


def lstm_cell_update(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """nn.LSTMCell's update from its summed gate pre-activations (order i, f, g, o).

    The state math runs in the cell state's dtype (fp32 under bf16 autocast): c sums over
    the whole sequence and would drift with bf16's 8 significant bits.
    """
    i, f, g, o = gates.to(c.dtype).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class Decoder(nn.Module):
    """One step: previous pose (and this frame's music) and LSTM state -> top hidden state
    and the new state."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        pose, hidden = config.pose_size, config.decoder_hidden
        self.hidden_size, self.num_layers = hidden, config.decoder_layers
        self.reads_music = config.decoder_reads_music
        first_input = pose + (config.d_model if self.reads_music else 0)
        self.embed = nn.Linear(pose, pose)
        self.drop = nn.Dropout(config.dropout)
        self.cells = nn.ModuleList(nn.LSTMCell(first_input if i == 0 else hidden, hidden)
                                   for i in range(config.decoder_layers))

    def initial_state(self, batch: int, device: torch.device, dtype: torch.dtype,
                      generator: torch.Generator | None = None) -> LSTMState:
        """Random (h, c) for every layer, drawn on the generator's device (CPU by default)."""
        source = generator.device if generator is not None else torch.device("cpu")
        noise = torch.randn(self.num_layers, 2, batch, self.hidden_size, generator=generator,
                            device=source).to(device, dtype)
        return [(noise[i, 0], noise[i, 1]) for i in range(self.num_layers)]

    def step_input(self, embedded: torch.Tensor, music: torch.Tensor) -> torch.Tensor:
        """The first layer's input from the (dropped-out) pose embedding and the music."""
        return torch.cat([embedded, music.to(embedded.dtype)], dim=-1) if self.reads_music \
            else embedded

    def forward(self, pose: torch.Tensor, state: LSTMState,
                music: torch.Tensor | None = None) -> tuple[torch.Tensor, LSTMState]:
        """`music`: the encoder output of the frame being written (read with
        decoder_reads_music, else ignored)."""
        x = self.drop(self.embed(pose))
        if self.reads_music:
            x = self.step_input(x, music)
        new_state = []
        for cell, (h, c) in zip(self.cells, state, strict=True):
            h, c = cell(x, (h, c))
            new_state.append((h, c))
            x = h
        return x, new_state


class Seq2Seq(nn.Module):
    """Dance Revolution's model: music features in, one pose vector per frame out."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.head = nn.Linear(config.decoder_hidden + config.d_model, config.pose_size)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _check_features(self, features: torch.Tensor) -> None:
        if (features.dim() != 3 or features.shape[2] != self.config.num_features
                or features.shape[1] == 0):
            raise DanceRevError(f"model expects features of shape (batch, frames >= 1, "
                                f"{self.config.num_features}), got {tuple(features.shape)}")

    def encode(self, features: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
        """Encoder outputs (B, T, d_model), all at once or in windows of `chunk` frames.

        Windowed encoding is exact: output frames s .. e-1 depend only on input frames within
        n_layers * window of them (the receptive field), so each window is encoded from
        [s - field, e + field) clipped to the song, with its absolute positions, and only its
        own frames are kept. Peak memory is that of one window, whatever the song length.
        Windows only equal the whole when dropout is off (eval mode).
        """
        self._check_features(features)
        length = features.shape[1]
        if chunk is None or length <= chunk:
            return self.encoder(features)
        if chunk < 1:
            raise DanceRevError(f"encoder chunk must be at least 1 frame, got {chunk}")
        field = self.config.receptive_field
        pieces = []
        for start in range(0, length, chunk):
            stop = min(start + chunk, length)
            lo, hi = max(0, start - field), min(length, stop + field)
            out = self.encoder(features[:, lo:hi], start=lo)
            pieces.append(out[:, start - lo:stop - lo])
        return torch.cat(pieces, dim=1)

    def _pose(self, hidden: torch.Tensor, encoded: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([hidden, encoded], dim=-1))

    def forward(self, features: torch.Tensor, target_poses: torch.Tensor,
                condition_mask: torch.Tensor | np.ndarray | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Training pass with dynamic auto-conditioning; returns predicted poses (B, T, pose).

        features (B, T, num_features), target_poses (B, T, pose_size) in the pose layout of
        config.py. condition_mask (T,) bool, True = ground truth (curriculum.condition_mask):
        step i's input is target_poses[:, i-1] where True, else the model's own prediction
        for frame i-1, detached so no gradient flows through the fed-back frame; step 0 gets
        the zero "beginning of pose" frame either way. None means teacher forcing.

        Computed run by run (`_forward_runs`): a training step is 1.1-1.3x as fast as frame by
        frame in fp32, 2.1-2.8x under bf16 autocast on a CPU with bf16 instructions
        (bench/training.py). `forward_per_frame` is the same pass written frame by frame, the
        reference it equals up to float rounding, with the same random draws. A model whose
        decoder has hooks takes the per-frame path: hooks expect one decoder call per frame.
        """
        ground_truth = self._training_inputs(features, target_poses, condition_mask)
        if self.decoder._forward_hooks or self.decoder._forward_pre_hooks:
            return self._forward_per_frame(features, target_poses, ground_truth, generator)
        return self._forward_runs(features, target_poses, ground_truth, generator)

    def forward_per_frame(self, features: torch.Tensor, target_poses: torch.Tensor,
                          condition_mask: torch.Tensor | np.ndarray | None = None,
                          generator: torch.Generator | None = None) -> torch.Tensor:
        """`forward` written the straightforward way, one decoder call per frame (reference)."""
        ground_truth = self._training_inputs(features, target_poses, condition_mask)
        return self._forward_per_frame(features, target_poses, ground_truth, generator)

    def _training_inputs(self, features: torch.Tensor, target_poses: torch.Tensor,
                         condition_mask: torch.Tensor | np.ndarray | None) -> list[bool]:
        """Check the shapes; the condition mask as a list (all True for teacher forcing)."""
        self._check_features(features)
        if (target_poses.dim() != 3 or target_poses.shape[2] != self.config.pose_size
                or features.shape[:2] != target_poses.shape[:2]):
            raise DanceRevError(f"target poses of shape {tuple(target_poses.shape)} do not fit "
                                f"features {tuple(features.shape)} and pose size "
                                f"{self.config.pose_size}")
        length = target_poses.shape[1]
        if condition_mask is None:
            return [True] * length
        ground_truth = [bool(x) for x in torch.as_tensor(condition_mask).reshape(-1).tolist()]
        if len(ground_truth) != length:
            raise DanceRevError(f"condition mask has {len(ground_truth)} steps, "
                                f"the sequence {length}")
        return ground_truth

    def _forward_per_frame(self, features: torch.Tensor, target_poses: torch.Tensor,
                           ground_truth: list[bool],
                           generator: torch.Generator | None) -> torch.Tensor:
        batch, length = target_poses.shape[:2]
        encoded = self.encoder(features)
        state = self.decoder.initial_state(batch, features.device, features.dtype, generator)
        previous = target_poses.new_zeros(batch, self.config.pose_size)
        outputs = []
        for i in range(length):
            if i == 0:
                step_input = previous
            elif ground_truth[i]:
                step_input = target_poses[:, i - 1]
            else:
                step_input = previous.detach()
            hidden, state = self.decoder(step_input, state, encoded[:, i])
            previous = self._pose(hidden, encoded[:, i])
            outputs.append(previous)
        return torch.stack(outputs, dim=1)

    def _forward_runs(self, features: torch.Tensor, target_poses: torch.Tensor,
                      ground_truth: list[bool],
                      generator: torch.Generator | None) -> torch.Tensor:
        """The per-frame pass regrouped so that most matmuls cover many frames at once.

        A ground-truth step's input (the target frame before it) is known in advance, so a
        run of them goes through the LSTM stack layer by layer: each layer's input matmul
        covers the whole run and only the recurrent matmul (h @ W_hh) stays per step. A
        self-fed step needs the previous output, so it is a run of its own. The output layer
        is split into its decoder and encoder halves: the encoder half is one matmul for all
        frames before the loop, the decoder half one matmul after it (a self-fed input is
        computed again from the top hidden state, without gradient). The output layer runs
        in the weights' precision even under autocast: bf16's 8 significant bits would put
        1.6 cm steps on a 3 m root translation. Dropout on the pose embedding is drawn step
        by step in step order, so the random draws are the per-frame loop's.
        """
        decoder, dtype = self.decoder, self.head.weight.dtype
        batch, length = target_poses.shape[:2]
        encoded = self.encoder(features)
        state = decoder.initial_state(batch, features.device, features.dtype, generator)
        head_hidden, head_encoded = self.head.weight.split(
            [self.config.decoder_hidden, self.config.d_model], dim=1)

        def pose(hidden: torch.Tensor, encoded_half: torch.Tensor) -> torch.Tensor:
            with torch.autocast(features.device.type, enabled=False):
                return F.linear(hidden.to(dtype), head_hidden) + encoded_half

        with torch.autocast(features.device.type, enabled=False):
            encoded_part = F.linear(encoded.to(dtype), head_encoded, self.head.bias)
        known = torch.cat([target_poses.new_zeros(batch, 1, self.config.pose_size),
                           target_poses[:, :-1]], dim=1)  # step i's input when ground truth
        tops = []  # top hidden states (B, run length, hidden), run by run
        for start, stop in decoder_runs(ground_truth):
            if start == 0 or ground_truth[start]:
                step_inputs = known[:, start:stop]
            else:
                with torch.no_grad():
                    step_inputs = pose(tops[-1][:, -1:], encoded_part[:, start - 1:start])
            x = torch.stack([decoder.drop(frame) for frame in decoder.embed(step_inputs)
                             .unbind(1)], dim=1)
            x = decoder.step_input(x, encoded[:, start:stop])
            for layer, cell in enumerate(decoder.cells):
                h, c = state[layer]
                # unbind, not indexing: each index's backward would write a whole-run zero
                # tensor, quadratic in the run length
                gates_in = F.linear(x, cell.weight_ih, cell.bias_ih + cell.bias_hh).unbind(1)
                hidden = []
                for gates in gates_in:
                    h, c = lstm_cell_update(gates + F.linear(h, cell.weight_hh), c)
                    hidden.append(h)
                state[layer] = (h, c)
                x = torch.stack(hidden, dim=1)
            tops.append(x)
        return pose(torch.cat(tops, dim=1), encoded_part)

    @torch.no_grad()
    def generate(self, features: torch.Tensor, generator: torch.Generator | None = None,
                 num: int = 1, chunk: int | None = DEFAULT_ENCODE_CHUNK) -> torch.Tensor:
        """Dances for music: features (T, F) -> (num, T, pose); (B, T, F) -> (B, num, T, pose).

        The music is encoded once (in windows of `chunk` frames), then every frame after the
        first comes from the decoder's own output. The `num` dances per song run as one batch
        and differ by their random initial LSTM states; the same generator seed gives the
        same dances. Runs in eval mode (no dropout) and restores the previous mode.
        """
        if num < 1:
            raise DanceRevError(f"number of dances must be at least 1, got {num}")
        single = features.dim() == 2
        if single:
            features = features.unsqueeze(0)
        was_training = self.training
        self.eval()
        try:
            encoded = self.encode(features, chunk).repeat_interleave(num, dim=0)
            batch, length = encoded.shape[:2]
            state = self.decoder.initial_state(batch, encoded.device, encoded.dtype, generator)
            pose = encoded.new_zeros(batch, self.config.pose_size)
            outputs = []
            for i in range(length):
                hidden, state = self.decoder(pose, state, encoded[:, i])
                pose = self._pose(hidden, encoded[:, i])
                outputs.append(pose)
        finally:
            self.train(was_training)
        dances = torch.stack(outputs, dim=1).view(features.shape[0], num, length, -1)
        return dances[0] if single else dances
