"""Fast generation on CPU: Seq2Seq.generate's decoder loop, rearranged for a memory-bound step.

At batch 1 a decoder step multiplies a few vectors by ~20 M weights (84 MB in fp32 for the
released model), so its time is the time to stream the weights from RAM, not arithmetic.
What this module changes, all with the same initial states, inputs and outputs as
`Seq2Seq.generate`:

- int8 weights (default): the five 4H x H LSTM matrices become per-output-channel int8 (about
  21 MB for the released model, which stays in a 32 MB L3 cache between steps) and are used by
  PyTorch's dynamic-quantised linear kernel (activations quantised per step to 7 bits,
  int32 accumulation, fp32 bias and nonlinearities). This is most of the speed-up (5-8x over
  the plain loop for the released model). The price is a small deviation from the fp32
  dance: see `INT8_TOLERANCE`.
- fused matmuls: each upper LSTM layer's two matmuls (input and recurrent) are one matmul
  on [h below ; h own]; the pose embedding is folded into the first layer's input matrix
  (W_ih1 @ W_embed, pose x 4H), so the step's only inputs are the 50-value pose and the
  states (and, with `decoder_reads_music`, the frame's encoder output through the music
  half of W_ih1).
- the encoder half of the output layer (encoder output -> pose) is one matmul for all frames
  before the loop; each step only adds the decoder half.
- one thread: the step is a chain of small kernels, and a second thread buys little and
  costs much when the other core is busy (a shared machine, Blender's UI). Set `threads`
  to change it; the previous setting is restored afterwards.

`precision="fp32"` keeps every rearrangement but not the int8 weights: equal to
`Seq2Seq.generate` up to float rounding (the fused matmuls sum in another order) and no
faster, since the step stays memory-bound; it is the fallback where no quantised engine
exists (and the path for CUDA models). `bench/generation.py` measures all of this.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import DanceRevError
from .network import DEFAULT_ENCODE_CHUNK, Seq2Seq

# Max abs deviation of an int8 dance from the fp32 dance (pose units: normalised image
# coordinates in [-1, 1] for BODY_25, metres for 3D), per frame over a song. Measured on the
# released configuration: about 0.002 over a minute (bench/generation.py); this leaves 5x room
# and is 0.5 % of the image width / 1 cm, well below what a viewer or the metrics resolve.
INT8_TOLERANCE = 0.01
# fp32 rearranged path vs the plain loop: float rounding only.
FP32_TOLERANCE = 1e-4
PRECISIONS = ("int8", "fp32")
PROGRESS_EVERY = 64  # frames between progress calls


def int8_available() -> bool:
    """Whether this PyTorch has a quantised CPU engine (x86/fbgemm, onednn or qnnpack).

    PyTorch 2.13 deprecates quantised tensors; should a later release drop the kernels, this
    turns False and generation falls back to the fp32 path.
    """
    try:
        torch.ops.quantized.linear_dynamic  # noqa: B018 (resolving the op is the check)
    except (AttributeError, RuntimeError):
        return False
    return torch.backends.quantized.engine not in (None, "none")


@dataclass
class FastDecoder:
    """A model's decoder weights rearranged for generation; build with `prepare_decoder`.

    `layers[l]` maps the layer's input (pose state for l = 0: h of layer 0; else
    [h of layer l-1 ; h of layer l]) to its 4H gates, bias included.
    """

    precision: str
    hidden: int
    pose_size: int
    layers: list[Callable[[torch.Tensor], torch.Tensor]]
    pose_to_gates: torch.Tensor  # (pose, 4H): W_ih1 @ W_embed, transposed
    music_to_gates: torch.Tensor | None  # (d_model, 4H): W_ih1's music half, transposed
    head_hidden: torch.Tensor  # (H, pose): decoder half of the output layer, transposed
    head_encoder: torch.Tensor  # (d_model, pose): encoder half, transposed
    head_bias: torch.Tensor


def _int8_linear(weight: torch.Tensor, bias: torch.Tensor) -> Callable[[torch.Tensor],
                                                                       torch.Tensor]:
    """x -> x @ weight.T + bias with weight int8 per output channel (dynamic quantisation)."""
    scale = (weight.abs().amax(dim=1) / 127.0).clamp_min(1e-12).double()
    with warnings.catch_warnings():
        # PyTorch 2.13 marks quantised tensors as deprecated; the kernels are what we use.
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*deprecated")
        q = torch.quantize_per_channel(weight.float(), scale, torch.zeros_like(scale).long(),
                                       0, torch.qint8)
        packed = torch.ops.quantized.linear_prepack(q, bias.float().contiguous())
    # 7-bit activations (reduce_range): on x86 CPUs without VNNI (AVX2 only: many laptops,
    # this AMD EPYC) the kernel sums pairs of u8 x s8 products in int16, which saturates
    # with 8-bit ones: a dance then strayed 0.04-0.06 from fp32; with 7 bits, 0.004-0.005
    # (tests/core/test_generation.py's models). PyTorch's own x86 default does the same.
    return lambda x: torch.ops.quantized.linear_dynamic(x, packed, True)


def _fp32_linear(weight: torch.Tensor, bias: torch.Tensor) -> Callable[[torch.Tensor],
                                                                       torch.Tensor]:
    weight, bias = weight.float().contiguous(), bias.float().contiguous()
    return lambda x: F.linear(x, weight, bias)


_CACHE: weakref.WeakKeyDictionary[Seq2Seq, tuple[tuple, FastDecoder]] = (
    weakref.WeakKeyDictionary())


def _weights_key(model: Seq2Seq, precision: str) -> tuple:
    """Changes whenever a weight is replaced or modified in place (optimizer steps)."""
    params = [*model.decoder.parameters(), *model.head.parameters()]
    return (precision, tuple((p.data_ptr(), p._version) for p in params))


@torch.no_grad()
def prepare_decoder(model: Seq2Seq, precision: str = "int8") -> FastDecoder:
    """Rearrange (and for int8 quantise) the decoder weights; cached per model and weights.

    Preparing costs about a tenth of a second for the released model, so it is done once
    and reused while the weights stay the same.
    """
    if precision not in PRECISIONS:
        raise DanceRevError(f"decoder precision must be one of {', '.join(PRECISIONS)}, "
                            f"got {precision!r}")
    if precision == "int8" and (not int8_available() or model.head.weight.device.type != "cpu"):
        raise DanceRevError("int8 decoding needs a CPU model and a quantised engine; "
                            "use precision 'fp32'")
    key = _weights_key(model, precision)
    cached = _CACHE.get(model)
    if cached is not None and cached[0] == key:
        return cached[1]
    config, cells = model.config, model.decoder.cells
    hidden, embed = config.decoder_hidden, model.decoder.embed
    first = cells[0]
    pose_size = config.pose_size
    w_ih = first.weight_ih[:, :pose_size].double()
    music_to_gates = (first.weight_ih[:, pose_size:].t().float().contiguous()
                      if config.decoder_reads_music else None)
    pose_to_gates = (w_ih @ embed.weight.double()).t().float().contiguous()
    first_bias = w_ih @ embed.bias.double() + first.bias_ih.double() + first.bias_hh.double()
    matrices = [first.weight_hh] + [torch.cat([c.weight_ih, c.weight_hh], dim=1)
                                    for c in cells[1:]]
    biases = [first_bias.float()] + [c.bias_ih + c.bias_hh for c in cells[1:]]
    linear = _int8_linear if precision == "int8" else _fp32_linear
    head = model.head.weight
    fast = FastDecoder(
        precision=precision,
        hidden=hidden,
        pose_size=config.pose_size,
        layers=[linear(w, b) for w, b in zip(matrices, biases, strict=True)],
        pose_to_gates=pose_to_gates,
        music_to_gates=music_to_gates,
        head_hidden=head[:, :hidden].t().contiguous(),
        head_encoder=head[:, hidden:].t().contiguous(),
        head_bias=model.head.bias.detach().clone(),
    )
    _CACHE[model] = (key, fast)
    return fast


def _lstm_update(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """nn.LSTMCell's state update from its 4H gates (PyTorch order: input, forget, cell, out)."""
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


@torch.no_grad()
def decode(fast: FastDecoder, encoded: torch.Tensor, state: list[tuple[torch.Tensor,
                                                                      torch.Tensor]],
           progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """The decoder loop: encoder outputs (B, T, d_model) and initial states -> (B, T, pose).

    `progress(done, total)` is called every PROGRESS_EVERY frames; an exception it raises
    stops the loop (that is how a caller cancels).
    """
    batch, length = encoded.shape[:2]
    # the encoder half of every frame's pose, all frames at once: (T, B, pose)
    poses = torch.addmm(fast.head_bias, encoded.transpose(0, 1).reshape(length * batch, -1),
                        fast.head_encoder).view(length, batch, -1)
    h = [s[0].contiguous() for s in state]
    c = [s[1].contiguous() for s in state]
    pose = encoded.new_zeros(batch, fast.pose_size)  # the "beginning of pose" frame
    top = len(h) - 1
    for i in range(length):
        gates = torch.addmm(fast.layers[0](h[0]), pose, fast.pose_to_gates)
        if fast.music_to_gates is not None:
            gates.addmm_(encoded[:, i], fast.music_to_gates)
        h[0], c[0] = _lstm_update(gates, c[0])
        for layer in range(1, top + 1):
            gates = fast.layers[layer](torch.cat([h[layer - 1], h[layer]], dim=1))
            h[layer], c[layer] = _lstm_update(gates, c[layer])
        pose = poses[i].addmm_(h[top], fast.head_hidden)  # completes frame i in place
        if progress is not None and (i + 1) % PROGRESS_EVERY == 0:
            progress(i + 1, length)
    if progress is not None:
        progress(length, length)
    return poses.transpose(0, 1)


@torch.no_grad()
def fast_generate(model: Seq2Seq, features: torch.Tensor,
                  generator: torch.Generator | None = None, num: int = 1,
                  chunk: int | None = DEFAULT_ENCODE_CHUNK, precision: str = "int8",
                  threads: int | None = 1,
                  progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """`Seq2Seq.generate` with the fast decoder: same arguments, shapes and random draws.

    features (T, F) -> (num, T, pose); (B, T, F) -> (B, num, T, pose). The result equals
    `model.generate(features, generator, num, chunk)` within INT8_TOLERANCE (int8) or
    FP32_TOLERANCE (fp32). `threads` sets torch's intra-op threads while decoding (None:
    leave as is).
    """
    if num < 1:
        raise DanceRevError(f"number of dances must be at least 1, got {num}")
    if threads is not None and threads < 1:
        raise DanceRevError(f"threads must be at least 1, got {threads}")
    fast = prepare_decoder(model, precision)
    single = features.dim() == 2
    if single:
        features = features.unsqueeze(0)
    was_training, previous_threads = model.training, torch.get_num_threads()
    model.eval()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        encoded = model.encode(features, chunk).repeat_interleave(num, dim=0)
        state = model.decoder.initial_state(encoded.shape[0], encoded.device, encoded.dtype,
                                            generator)
        dances = decode(fast, encoded, state, progress)
    finally:
        model.train(was_training)
        torch.set_num_threads(previous_threads)
    dances = dances.reshape(features.shape[0], num, *dances.shape[1:])
    return dances[0] if single else dances
