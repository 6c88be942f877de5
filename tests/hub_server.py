"""A loopback Hugging Face Hub for tests: the HTTP API that ``create_repo``, ``upload_folder`` /
``create_commit`` (regular, non-LFS files, deletions), ``repo_info``, ``list_repo_tree`` (a folder's children or
all below it, as ``HfFileSystem`` and so ``load_dataset("ORG/NAME")`` list them), ``hf_hub_download`` and
``snapshot_download`` use, over repositories kept in memory. Every request is recorded.

Revisions are ``main``, commit shas and tags (no branches). It is no stand-in for the Hub's rules (permissions, LFS
and Xet storage): it lets a test push with the real client libraries and pull the same bytes back.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

TYPES = {"model": "models", "dataset": "datasets", "space": "spaces"}
PREFIX = {"models": "", "datasets": "datasets/", "spaces": "spaces/"}


def validate_card(content: str) -> list[str]:
    """What the Hub checks in a README's YAML that we can: it parses, and a model-index has its required keys."""
    import yaml

    match = re.match(r"^---\n(.*?)\n---\n", content, re.S)
    if not match:
        return []
    try:
        data = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as err:
        return [f"YAML: {err}"]
    errors = []
    for entry in data.get("model-index") or []:
        for result in entry.get("results") or []:
            if not (result.get("task") or {}).get("type"):
                errors.append('"model-index[].results[].task.type" is required')
            if not {"type", "name"} <= set(result.get("dataset") or {}):
                errors.append('"model-index[].results[].dataset" needs type and name')
            if any(not {"type", "value"} <= set(m) for m in result.get("metrics") or []):
                errors.append('"model-index[].results[].metrics[]" needs type and value')
    return errors


class Repo:
    """A repository: its files at the latest commit, and every commit's files by sha (revisions)."""

    def __init__(self, repo_id: str, repo_type: str, private: bool):
        self.id, self.type, self.private = repo_id, repo_type, private
        self.files: dict[str, bytes] = {}
        self.commits: list[dict] = [{"sha": hashlib.sha1(repo_id.encode()).hexdigest(), "message": "initial commit"}]
        self.snapshots: dict[str, dict[str, bytes]] = {self.sha: {}}
        self.tags: dict[str, str] = {}  # tag -> commit sha

    @property
    def sha(self) -> str:
        return self.commits[-1]["sha"]

    def at(self, revision: str | None) -> tuple[str, dict[str, bytes]] | None:
        """(sha, files) at ``revision`` (main, a tag, or a commit sha); None for an unknown revision."""
        sha = self.sha if revision in (None, "main") else self.tags.get(revision, revision)
        return (sha, self.snapshots[sha]) if sha in self.snapshots else None


def tree(files: dict[str, bytes], sha: str, under: str, recursive: bool) -> list[dict]:
    """The entries below ``under`` as the tree endpoint lists them: files, and folders as "directory" entries;
    only the direct children unless ``recursive``."""
    prefix = under + "/" if under else ""
    entries, folders = [], set()
    for name, data in sorted(files.items()):
        if not name.startswith(prefix):
            continue
        parts = name[len(prefix) :].split("/")
        for depth in range(1, len(parts)):
            if recursive or depth == 1:
                folders.add(prefix + "/".join(parts[:depth]))
        if recursive or len(parts) == 1:
            entries.append({"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()})
    oid = hashlib.sha1(sha.encode()).hexdigest()
    return [{"type": "directory", "path": f, "oid": oid} for f in sorted(folders)] + entries


class HubServer:
    """``HubServer().url`` is the endpoint (``HF_ENDPOINT`` or ``endpoint=``); ``repos`` maps (type, id) to Repo."""

    def __init__(self):
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False):
                self.send_response(status)
                headers = {"Content-Type": "application/json", **(headers or {})}
                headers.setdefault("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def _json(self, status: int, data, head: bool = False):
                self._send(status, json.dumps(data).encode(), head=head)

            def _error(self, status: int, message: str, head: bool = False):
                # the header huggingface_hub reads to name the error (RepositoryNotFound, EntryNotFound, ...)
                code = {404: "RepoNotFound"}.get(status, "Error")
                self._send(status, json.dumps({"error": message}).encode(), {"X-Error-Code": code}, head=head)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_POST(self):
                path = urlparse(self.path).path
                hub.requests.append(("POST", path))
                body = self._body()
                if path == "/api/validate-yaml":
                    errors = validate_card(json.loads(body)["content"])
                    status = 400 if errors else 200
                    return self._json(status, {"errors": [{"message": e} for e in errors], "warnings": []})
                if path == "/api/repos/create":
                    data = json.loads(body)
                    repo_id = f"{data['organization']}/{data['name']}" if data.get("organization") else data["name"]
                    repo_type = TYPES[data.get("type") or "model"]
                    with hub._lock:
                        exists = (repo_type, repo_id) in hub.repos
                        if not exists:
                            # huggingface_hub >= 1.x sends "visibility"; older clients sent "private"
                            private = data.get("visibility") == "private" or bool(data.get("private"))
                            hub.repos[repo_type, repo_id] = Repo(repo_id, repo_type, private)
                    url = f"{hub.url}/{PREFIX[repo_type]}{repo_id}"
                    return self._json(409 if exists else 200, {"url": url, "name": repo_id, "error": "exists"})
                tag = re.fullmatch(r"/api/(models|datasets|spaces)/(.+?)/tag/([^/]+)", path)
                if tag:  # create_tag: the tag names the commit the revision resolves to
                    repo = hub.repos.get((tag.group(1), tag.group(2)))
                    found = repo.at(unquote(tag.group(3))) if repo else None
                    if found is None:
                        return self._error(404, f"no repo or revision {tag.group(2)}@{tag.group(3)}")
                    repo.tags[json.loads(body)["tag"]] = found[0]
                    return self._json(200, {"name": json.loads(body)["tag"]})
                match = re.fullmatch(r"/api/(models|datasets|spaces)/(.+?)/(preupload|commit)/([^/]+)", path)
                if not match:
                    return self._error(404, f"no route POST {path}")
                repo = hub.repos.get((match.group(1), match.group(2)))
                if repo is None:
                    return self._error(404, f"no repo {match.group(2)}")
                if match.group(3) == "preupload":
                    files = json.loads(body)["files"]
                    modes = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
                    return self._json(200, {"files": modes, "commitOid": repo.sha})
                return self._commit(repo, body)

            def _commit(self, repo: Repo, body: bytes):
                message = ""
                with hub._lock:
                    files = dict(repo.files)  # applied only if the whole commit is
                    for line in body.decode().splitlines():
                        if not line.strip():
                            continue
                        item = json.loads(line)
                        key, value = item["key"], item["value"]
                        if key == "header":
                            message = value.get("summary", "")
                        elif key == "file":
                            content = value["content"]
                            data = base64.b64decode(content) if value.get("encoding") == "base64" else content.encode()
                            files[value["path"]] = data
                        elif key == "deletedFile":
                            files.pop(value["path"], None)
                        elif key == "deletedFolder":
                            for name in [n for n in files if n.startswith(value["path"].rstrip("/") + "/")]:
                                del files[name]
                        else:
                            return self._error(400, f"this loopback Hub takes regular files only, not {key}")
                    sha = hashlib.sha1(f"{repo.sha}{time.time_ns()}{message}".encode()).hexdigest()
                    repo.commits.append({"sha": sha, "message": message})
                    repo.files = repo.snapshots[sha] = files
                url = f"{hub.url}/{PREFIX[repo.type]}{repo.id}/commit/{sha}"
                return self._json(200, {"commitUrl": url, "commitOid": sha})

            def _info(self, repo: Repo, sha: str, files: dict[str, bytes]) -> dict:
                return {
                    "id": repo.id,
                    "_id": repo.id,
                    "sha": sha,
                    "private": repo.private,
                    "siblings": [{"rfilename": name, "size": len(data)} for name, data in sorted(files.items())],
                    "tags": [],
                    "lastModified": "2026-01-01T00:00:00.000Z",
                }

            def _files_at(self, repo_type: str, repo_id: str, revision: str | None, head: bool):
                """(sha, files) of a repository at a revision; None once a 404 is sent."""
                repo = hub.repos.get((repo_type, repo_id))
                if repo is None:
                    self._error(404, f"no repo {repo_id}", head)
                    return None
                found = repo.at(revision)
                if found is None:
                    self._send(404, b'{"error": "no such revision"}', {"X-Error-Code": "RevisionNotFound"}, head)
                return found

            def do_GET(self, head: bool = False):
                path = unquote(urlparse(self.path).path)
                hub.requests.append(("HEAD" if head else "GET", path))
                api = re.fullmatch(r"/api/(models|datasets|spaces)/(.+?)(?:/(revision|tree)/([^/]+)(/.*)?)?", path)
                if api:
                    found = self._files_at(api.group(1), api.group(2), api.group(4), head)
                    if found is None:
                        return None
                    sha, files = found
                    if api.group(3) == "tree":
                        recursive = parse_qs(urlparse(self.path).query).get("recursive") == ["true"]
                        return self._json(200, tree(files, sha, (api.group(5) or "").strip("/"), recursive), head)
                    return self._json(200, self._info(hub.repos[api.group(1), api.group(2)], sha, files), head)
                resolve = re.fullmatch(r"/(datasets/|spaces/)?(.+?)/resolve/([^/]+)/(.+)", path)
                if resolve:
                    repo_type = {"datasets/": "datasets", "spaces/": "spaces"}.get(resolve.group(1) or "", "models")
                    found = self._files_at(repo_type, resolve.group(2), resolve.group(3), head)
                    if found is None:
                        return None
                    sha, files = found
                    data = files.get(resolve.group(4))
                    if data is None:
                        self._send(404, b"{}", {"X-Error-Code": "EntryNotFound"}, head)
                        return None
                    etag = hashlib.sha1(data).hexdigest()
                    headers = {
                        "ETag": f'"{etag}"',
                        "X-Repo-Commit": sha,
                        "Content-Type": "application/octet-stream",
                    }
                    return self._send(200, data, headers, head)
                return self._error(404, f"no route GET {path}", head)

            def do_HEAD(self):
                self.do_GET(head=True)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def env(self, home=None) -> dict:
        """The environment of a child process that talks to this Hub with a write token (``HF_HOME`` under
        ``home`` when given)."""
        env = {**os.environ, "HF_ENDPOINT": self.url, "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0"}
        env["HF_TOKEN"] = "hf_test"
        return {**env, "HF_HOME": str(home)} if home else env

    def cli(self, *args: str, home) -> subprocess.CompletedProcess:
        """`mirror-hf ARGS` in a fresh process that talks to this Hub."""
        return subprocess.run(
            [sys.executable, "-m", "mirror_hf", *args], env=self.env(home), capture_output=True, text=True, timeout=300
        )

    def close(self):
        self.httpd.shutdown()
