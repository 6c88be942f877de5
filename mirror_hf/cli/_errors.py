"""What a command's failure prints: one line for what a user can cause or fix (our errors, the Hub's refusals, an
unreachable server, a file the system refuses, Ctrl-C), the traceback only for a bug — or always with ``--debug``
(or ``MIRROR_HF_DEBUG=1``).

Exit codes: 0 done, 1 done with work left undone (the command says what), 2 an error, 130 interrupted.
"""

from __future__ import annotations

import errno
import sys

INTERRUPTED = 130
ERROR = 2
_OS_ERRORS = (PermissionError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError)


def _first_line(err: BaseException) -> str:
    return next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)


def _hub_message(err: BaseException) -> str | None:
    if "huggingface_hub" not in sys.modules:  # nothing of it ran, so it raised nothing
        return None
    from huggingface_hub import errors as hub

    if isinstance(err, hub.HFValidationError):
        return f"not a Hub repository id: {_first_line(err)}. Fix: write ORG/NAME"
    if isinstance(err, hub.OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set, so the Hub cannot be reached. Fix: unset HF_HUB_OFFLINE, or give a local folder"
    if isinstance(err, hub.LocalEntryNotFoundError):
        return (
            "the Hub cannot be reached and nothing of it is cached here. Fix: check your network (or HF_ENDPOINT), "
            "or give a local folder"
        )
    if isinstance(err, (hub.RepositoryNotFoundError, hub.GatedRepoError)):
        return f"{_first_line(err)}. Fix: check the id, and your token (HF_TOKEN or `hf auth login`) for a private one"
    if isinstance(err, hub.HfHubHTTPError):
        return f"the Hub refused: {_first_line(err)}. Fix: check the id and your token (HF_TOKEN or `hf auth login`)"
    return None


def _network_message(err: BaseException) -> str | None:
    for name in ("httpx2", "httpx"):
        module = sys.modules.get(name)
        if module is not None and isinstance(err, module.TransportError):
            try:
                where = str(err.request.url.copy_with(query=None))
            except RuntimeError:  # no request attached
                where = "the server"
            return f"cannot reach {where} ({_first_line(err)}). Fix: check the address and that the server is up"
    return None


def one_line(err: BaseException) -> str | None:
    """The message an error a user can act on gets; None for anything else (a bug: its traceback is shown)."""
    from mirror_hf.errors import MirrorError

    if isinstance(err, MirrorError):
        return str(err)
    if "mirror_hf.llm.types" in sys.modules:
        from mirror_hf.llm.types import BackendError

        if isinstance(err, BackendError):
            return f"a model call failed for good: {err}"
    message = _hub_message(err) or _network_message(err)
    if message:
        return message
    if isinstance(err, _OS_ERRORS) or (isinstance(err, OSError) and err.errno == errno.ENOSPC):
        where = f": {err.filename}" if err.filename else ""
        return f"{err.strerror or _first_line(err)}{where}"
    return None


def run(handler, args, *, debug: bool = False) -> int:
    """``handler(args)``'s exit code, with every known failure turned into one line on stderr."""
    try:
        return handler(args)
    except BaseException as err:  # noqa: BLE001 - sorted below; asyncio's CancelledError is a BaseException too
        asyncio = sys.modules.get("asyncio")  # not imported at start-up: --help stays fast
        if isinstance(err, KeyboardInterrupt) or (asyncio and isinstance(err, asyncio.CancelledError)):
            if debug:
                raise
            print("\ninterrupted; run the same command again to resume", file=sys.stderr)
            return INTERRUPTED
        message = None if debug or not isinstance(err, Exception) else one_line(err)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return ERROR
