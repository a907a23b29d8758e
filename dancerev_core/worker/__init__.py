"""The worker: one DanceRev job in its own process, spoken to in JSON lines over pipes.

Blender's process never loads torch or librosa (docs/architecture.md), so the add-on starts
`python -m dancerev_core.worker` (also `dancerev worker`) with an interpreter that has them,
sends it one request and reads events until the job ends. Everything here is the protocol's
definition; `addon/jobs.py` is the other end.

Protocol version 1. Every line is one JSON object, UTF-8 (the worker writes ASCII only).

stdin, parent -> worker
    line 1     the request: {"job": NAME, ...fields}; unknown fields are refused
    later      {"cancel": true}
    EOF        the parent went away (Blender quit or crashed): the same as cancel

stdout, worker -> parent: protocol lines ONLY, each {"event": NAME, ...}. Anything else a
library prints (print, tqdm, warnings, C code writing to file descriptor 1) goes to stderr,
which the parent keeps for diagnostics.
    hello      always first, before the request is read: protocol (int), dancerev,
               python, executable, pid, torch and librosa (bools: importable, not imported)
    progress   stage, done, total, message; training adds epoch, epochs, step, steps, loss
               (stage "train") and epoch, epochs, train_loss, val_loss, self_fed_length,
               checkpoint (stage "epoch", once per finished epoch)
    log        message: a note for the user (a skipped clip, "resuming ..."); with level
               "error" and kind "busy" the answer to a stdin line other than a cancel while
               the job runs (a second request): the job goes on
    result     the job's payload (below); the job succeeded
    error      message: one line the user can act on; kind: "input" (a DanceRevError: the
               user's file or setting), "runtime" (this Python lacks a package the job
               needs), "request" (a malformed request: a bug in the parent) or "internal"
               (a bug in DanceRev: the traceback is on stderr)
    cancelled  message; after a cancelled training also last_checkpoint
Exactly one of result, error and cancelled ends every run, as its last line.

Jobs and their fields (paths are best absolute; relative ones start at the worker's cwd):
    check      (none) -> ok, problems [one line each], dancerev, python, executable,
               modules {name: version or null}, torch, librosa, cuda, cuda_devices, cache_dir
    analyse    song, use_cache=true -> song, duration, tempo, beat_times (seconds from the
               song's start), fps, frames
    generate   song, checkpoint, output (folder), name=<song stem>, start=0, seconds=null
               (to the song's end), seed=0, num=1, joints=null, decoder="fast",
               use_cache=true, device, lift=false (a 2D model's dances lifted to
               canonical 3D, dancerev_core.lifting), beat_sync=true (accents re-timed
               onto the beats, dancerev_core.generation.beat_sync) -> files (OUTPUT/NAME.npz, or
               NAME_1..NAME_K.npz), song, checkpoint, skeleton, fps, frames, seconds,
               audio_start, beat_times (seconds from the dance's frame 0, which is the song
               at audio_start), tempo, seed, num, decoder, beat_sync (what it did)
    train      dataset, output (folder), format="auto", config=null (JSON file),
               schedule=null, epochs=null, resume=false, batch_size, seq_len, lr, seed,
               val_fraction, mirror, precision, image_size ("WxH"), device -> output, epoch,
               last, best, history, train_loss, val_loss
`device` is "auto", "cpu" or "cuda"; its default comes from $DANCEREV_DEVICE, else "auto".
The feature cache is $DANCEREV_CACHE_DIR (music/cache.py).

Cancelling: a cancel (or EOF) sets a flag that the job's progress callbacks check (every
step of training, every 64 decoded frames); a job that has not stopped GRACE_SECONDS later
is interrupted like Ctrl-C wherever it is (atomic writes clean up after themselves), and
HARD_SECONDS later the worker exits regardless. Outputs are all or nothing: generated files
appear only when every one is written; training keeps the last committed checkpoint, so
`resume` continues it. A cancel that arrives while outputs are being committed is too late:
the result is reported.

Exit codes: 0 result, 1 internal error, 2 input, runtime or request error, 130 cancelled.

Warm mode (`python -m dancerev_core.worker --warm`, `worker/warm.py`): the same lines, but
the process takes request after request, each answered to its last line, keeping the loaded
model and analysed songs between them; hello adds "warm": true; a cancel ends the job, not
the process; EOF ends the process. The add-on's generations run this way (`addon/jobs.py`
WarmWorker). `--warm --listen SOCKET` speaks the same over a Unix socket, one client at a
time (a client hanging up cancels its job), until stdin closes: `dancerev batch` keeps one per
parallel job and its `dance` processes reach it through $DANCEREV_WORKER_SOCKET.
"""

from .protocol import (
    EXIT_CANCELLED,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_OK,
    PROTOCOL_VERSION,
)
from .run import main, serve

__all__ = ["EXIT_CANCELLED", "EXIT_INPUT", "EXIT_INTERNAL", "EXIT_OK", "PROTOCOL_VERSION",
           "main", "serve"]
