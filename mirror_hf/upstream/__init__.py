"""Files of other people's repositories that mirror-hf follows but does not carry — the MIRROR authors' code has no
licence, COUNSELINGEVAL's rubrics are CACTUS's — read at run time from a pinned commit and checked against SHA-256
digests: fetched once into the cache, or read from a local clone the user names.

``MIRROR_HF_GITHUB_RAW`` replaces ``https://raw.githubusercontent.com`` (a mirror, or a test's loopback server);
``MIRROR_HF_UPSTREAM`` names a local clone of the authors' repository (``--upstream`` on the command line);
``MIRROR_HF_UPSTREAM_PINS`` (``--upstream-pins``) a JSON file ``{"commit": ..., "digests": {path: sha256}}`` that pins
another commit of it (a fork, a later fix), recorded with every run that uses it.

Example:
    >>> from mirror_hf.upstream import MIRROR
    >>> MIRROR.commit[:7], MIRROR.url("mirror-llava/llava/chat/client.py").split("/")[-3:]
    ('3bc4a9a', ['llava', 'chat', 'client.py'])
    >>> text = MIRROR.read("mirror-llava/llava/chat/prompts/agent_client.txt")          # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mirror_hf.errors import MirrorError

RAW_URL = "https://raw.githubusercontent.com"
ENV_RAW = "MIRROR_HF_GITHUB_RAW"
ENV_CLONE = "MIRROR_HF_UPSTREAM"
ENV_PINS = "MIRROR_HF_UPSTREAM_PINS"


@dataclass(frozen=True)
class Upstream:
    """A repository at a pinned commit, the SHA-256 of each file mirror-hf reads from it, and optionally a local
    clone (or any folder holding those files at their repository paths) to read them from instead of the network."""

    repo: str
    commit: str
    digests: Mapping[str, str] = field(hash=False)
    clone: str | None = None
    clone_env: str | None = None  # an environment variable that may name the clone

    def url(self, path: str) -> str:
        base = os.environ.get(ENV_RAW, RAW_URL).rstrip("/")
        return f"{base}/{self.repo}/{self.commit}/{path}"

    def with_clone(self, clone: str | Path | None) -> Upstream:
        return dataclasses.replace(self, clone=None if clone is None else str(clone))

    def with_pins(self, pins: str | Path) -> Upstream:
        """This repository pinned at the commit and digests of the JSON file ``pins`` (every file still checked)."""
        try:
            data = json.loads(Path(pins).expanduser().read_text(encoding="utf-8"))
            commit, digests = str(data["commit"]), {str(k): str(v) for k, v in data["digests"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise MirrorError(
                f"cannot read the pins ({err})",
                file=str(pins),
                fix='write {"commit": "...", "digests": {PATH: SHA256}}',
            ) from None
        missing = sorted(set(self.digests) - set(digests))
        if missing:
            raise MirrorError(f"the pins lack {missing[0]} (and {len(missing) - 1} more)", file=str(pins))
        return dataclasses.replace(self, commit=commit, digests=digests)

    def identity(self) -> dict:
        """What a run records of where the authors' files came from (the commit, and a digest of the pins)."""
        pins = hashlib.sha256(json.dumps(dict(self.digests), sort_keys=True).encode()).hexdigest()[:16]
        return {"repo": self.repo, "commit": self.commit, "pins": pins}

    def _how_to_clone(self) -> str:
        name = self.repo.split("/")[1]
        how = f"git clone https://github.com/{self.repo} && git -C {name} checkout {self.commit[:7]}"
        if not self.clone_env:
            return how
        return f"{how}, then pass upstream=DIR (command line: --upstream DIR, or {self.clone_env}=DIR)"

    def _checked(self, path: str, data: bytes, where: str) -> bytes:
        digest = hashlib.sha256(data).hexdigest()
        if digest != self.digests[path]:
            raise MirrorError(
                f"{path} from {where} is not the file of {self.repo} at commit {self.commit[:7]} (SHA-256 "
                f"{digest[:12]}..., pinned {self.digests[path][:12]}...), so it was not used",
                fix=f"use the pinned commit: {self._how_to_clone()}",
            )
        return data

    def read_bytes(self, path: str) -> bytes:
        """The file at ``path``, digest-checked: from the clone when one is named, else the cache, else fetched."""
        if path not in self.digests:
            raise KeyError(f"{path} is not pinned for {self.repo}")
        clone = self.clone or (os.environ.get(self.clone_env) if self.clone_env else None)
        if clone:
            local = Path(clone).expanduser() / path
            if not local.is_file():
                raise MirrorError(
                    f"{path} is not in {clone}, which should be a clone of {self.repo}",
                    fix=f"give the clone's top folder: {self._how_to_clone()}",
                )
            return self._checked(path, local.read_bytes(), str(local))
        cached = _cache_root() / self.repo.replace("/", "--") / self.commit / path
        if cached.is_file():
            data = cached.read_bytes()
            if hashlib.sha256(data).hexdigest() == self.digests[path]:
                return data
        url = self.url(path)
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                data = response.read()
        except (OSError, urllib.error.URLError) as err:
            reason = getattr(err, "reason", None) or err
            raise MirrorError(
                f"cannot fetch {path} of {self.repo} at commit {self.commit} ({url}: {reason})",
                fix=f"go online once (the file is then cached), or read a local clone: {self._how_to_clone()}",
            ) from None
        self._checked(path, data, url)
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(data)
        return data

    def read(self, path: str) -> str:
        return self.read_bytes(path).decode("utf-8")


def _cache_root() -> Path:
    from mirror_hf.paths import cache_dir

    return cache_dir() / "upstream"


# The MIRROR authors' released code (no licence: read, never copied), the commit the paper's numbers came from.
MIRROR = Upstream(
    repo="nobel-postech/mirror",
    commit="3bc4a9a846151b4123fbec61e2c301d739e0511a",
    digests={
        "mirror-llava/llava/chat/prompts/agent_client.txt": (
            "b4f83b86d475a0d389cdeb9771bdaad82ae98759789ec2b4cf01c9636793d81f"
        ),
        "mirror-llava/llava/chat/client.py": "4981e5be86fb30b17f88d5b919fa6dee6e9cf23ff7aaf95b581a4f9bbff45f4f",
        "mirror-llava/llava/chat/therapy.py": "15e25cc1bc8b39a56ceee3596ed046972abdb241d89d4ecfab6bbdd4599d13f6",
        "mirror-llava/llava/chat/vlm.py": "bd30a7ab921433bfab344026b267f24d4ac6100e97b90e8e1f18bc0448131dae",
        "mirror-llava/llava/conversation.py": "5afd26fa231082cb6fdc100c3887d663f72d8c99a93dcdd285dac303ca72e45c",
        "llm_therapist/src/prompts/agent_client.txt": (
            "b4f83b86d475a0d389cdeb9771bdaad82ae98759789ec2b4cf01c9636793d81f"
        ),
        "llm_therapist/src/agents/client.py": "bd906a7a1ad40b8cf2eab435814c688ddbc5812e3ab11cc9134f4ff6d2d0a430",
        "llm_therapist/src/agents/gpt.py": "9bf45409fcf3cabb8816558d31e8748cf1d49d87d42993d16982e2769ea152e6",
        "llm_therapist/src/run.py": "4a719f7a09f92acc7815850b0b1806a65ca25920a7f69fa76c8c30d342a155c9",
        "llm_therapist/src/prompts/agent_llama3.txt": (
            "7c6a27ce27cf580eabb237427823fb4fc67e3a272fbd4f6817c3956e241a4670"
        ),
        "llm_therapist/src/prompts/agent_gpt.txt": "8c058a197da02f0e70c43c653e4ab300092b6efa9cfec7e952de7a6a0c46bcad",
        "llm_therapist/src/prompts/agent_cactus_llama3.txt": (
            "779cbd0edb1e787aa0f3332ba71e389354ccf96bbec4f53c027684e1066de932"
        ),
        "llm_therapist/src/prompts/agent_cbt_llama3.txt": (
            "103fe4bfcf82ef6d396163c6d8a006fe5d5a9cde5224432923ed1f64d2f0c336"
        ),
        # the data pipeline: screenplays (step 2) and the expressions for PhotoMaker (step 3)
        "mirror/agent/prompts/session_v3.txt": "e92937ac555611f9218f3902c241a180e5342593f302faab87a71cd9cc954f94",
        "mirror/agent/examples/prompt_1.txt": "23d1e6ab66ece36bd162d829e1122404ea919f7b57e81b39b2f77eac34e4a13d",
        "mirror/agent/examples/prompt_2.txt": "2168a0940f1d6a28618afb8a4bc43fe6a095d84c536c4b17bb1e8edece105d20",
        "mirror/agent/examples/output_1.txt": "9662e56a7143d0eb8685d7c3d033a613d5eb17e312157586dda5caf60b8f2283",
        "mirror/agent/examples/output_2.txt": "37e6e36b584affc5444d801ad0596fc02c102d6602d45b3d1fee5aadb5bc90dc",
        "mirror/agent/counseling_gen.py": "d1a23855ca66e05d9116a63270974c4868a046506e1d7540ffcdb31402e92e30",
        "mirror/agent/personality.py": "55dd3fdd65f9ae17177a63ee9b6330d444eec99c65841314693e7e649a917d37",
        "mirror/src/prompts/llama.py": "723db967a48542b074fbff8b93c055a0c972ed2060b0cc8826d5937919b5d5a5",
        "mirror/src/prompts/__init__.py": "5ca736ab1d5c4633e23d260433be3fa6de12972d2ddad2703051cdb8fa6d21ba",
    },
    clone_env=ENV_CLONE,
)


def resolve(clone: str | Path | None = None, pins: str | Path | None = None) -> Upstream:
    """The authors' repository as a user names it: :data:`MIRROR`, at other ``pins`` (else ``MIRROR_HF_UPSTREAM_PINS``),
    read from a ``clone`` (else ``MIRROR_HF_UPSTREAM``)."""
    upstream = MIRROR
    pins = pins or os.environ.get(ENV_PINS)
    if pins:
        upstream = upstream.with_pins(pins)
    return upstream.with_clone(clone or os.environ.get(ENV_CLONE))
