"""A loopback Hugging Face Hub-compatible server for tests (real HTTP on 127.0.0.1).

It implements the routes that `huggingface_hub` 2.4 and `datasets` 5.2 call to create a repository, commit to it
(preupload, Git LFS batch + basic transfer, NDJSON commit) and read it back (repo info, tree, paths-info, resolve).
Repositories live in memory; writes and private reads need `Authorization: Bearer <token>`.
No Xet storage: clients must run with HF_HUB_DISABLE_XET=1.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from email.utils import formatdate

import yaml
from fastapi import FastAPI, HTTPException, Request, Response

from loopback import serve_in_thread

LFS_SUFFIXES = (".parquet", ".arrow", ".wav", ".flac", ".bin", ".safetensors")


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    repo_id: str
    repo_type: str
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)     # path → content (LFS files by content too)
    lfs: set[str] = field(default_factory=set)                 # paths stored through LFS
    commits: list[dict] = field(default_factory=list)          # newest last

    @property
    def sha(self) -> str:
        return self.commits[-1]["oid"] if self.commits else "0" * 40


class HubServer:
    """Run with `with HubServer(token="hf_x") as hub: hub.url`."""

    def __init__(self, token: str, user: str = "tester"):
        self.token, self.user = token, user
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[str] = []          # "METHOD path" (never headers: they hold the token)
        self.app = self._build_app()
        self.port, self.url = 0, ""   # bound by __enter__

    # --- auth -----------------------------------------------------------------------------------------
    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization", "") == f"Bearer {self.token}"

    def _repo(self, request: Request, rtype: str, ns: str, name: str, write: bool = False) -> Repo:
        repo = self.repos.get((rtype.removesuffix("s"), f"{ns}/{name}"))
        if repo is None or ((write or repo.private) and not self._authorized(request)):
            # like the Hub: a private repo without the right token looks like a missing one
            raise HTTPException(404, detail="Repository not found", headers={"X-Error-Code": "RepoNotFound"})
        return repo

    def _check_rev(self, repo: Repo, rev: str) -> None:
        if rev not in ("main", repo.sha):
            raise HTTPException(404, detail=f"Revision not found: {rev}", headers={"X-Error-Code": "RevisionNotFound"})

    # --- file entries -------------------------------------------------------------------------------
    def _entry(self, repo: Repo, path: str) -> dict:
        data = repo.files[path]
        entry = {"type": "file", "path": path, "size": len(data), "oid": git_blob_oid(data)}
        if path in repo.lfs:
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return entry

    def _tree(self, repo: Repo, base: str, recursive: bool) -> list[dict]:
        base = base.strip("/")
        prefix = f"{base}/" if base else ""
        out, dirs = [], set()
        for path in sorted(repo.files):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix):]
            parts = rest.split("/")
            for i in range(1, len(parts)):
                d = prefix + "/".join(parts[:i])
                if (recursive or i == 1) and d not in dirs:
                    dirs.add(d)
                    out.append({"type": "directory", "path": d, "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0})
            if recursive or len(parts) == 1:
                out.append(self._entry(repo, path))
        if base and not out:
            raise HTTPException(404, detail=f"{base} not found", headers={"X-Error-Code": "EntryNotFound"})
        return out

    def _info(self, repo: Repo) -> dict:
        card = repo.files.get("README.md", b"").decode()
        card_data = yaml.safe_load(card.split("---\n")[1]) if card.startswith("---\n") else None
        ns, name = repo.repo_id.split("/")
        return {"_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24], "id": repo.repo_id, "author": ns,
                "sha": repo.sha, "private": repo.private, "gated": False, "disabled": False, "downloads": 0,
                "likes": 0, "tags": [], "cardData": card_data, "createdAt": "2025-01-01T00:00:00.000Z",
                "lastModified": "2025-01-01T00:00:00.000Z",
                "siblings": [{"rfilename": p} for p in sorted(repo.files)]}

    # --- routes --------------------------------------------------------------------------------------
    def _build_app(self) -> FastAPI:
        app = FastAPI()
        hub = self

        @app.middleware("http")
        async def log(request: Request, call_next):
            response = await call_next(request)
            hub.requests.append(f"{request.method} {request.url.path} -> {response.status_code}")
            return response

        @app.get("/api/whoami-v2")
        async def whoami(request: Request):
            if not hub._authorized(request):
                raise HTTPException(401, detail="Invalid credentials")
            return {"type": "user", "name": hub.user, "orgs": [], "auth": {"type": "access_token"}}

        @app.post("/api/repos/create")
        async def create(request: Request):
            if not hub._authorized(request):
                raise HTTPException(401, detail="Invalid credentials")
            body = await request.json()
            rtype = body.get("type") or "model"
            repo_id = f"{body.get('organization') or hub.user}/{body['name']}"
            if (rtype, repo_id) in hub.repos:
                raise HTTPException(409, detail="You already created this repo")
            private = body.get("visibility", "private" if body.get("private") else "public") != "public"
            hub.repos[rtype, repo_id] = Repo(repo_id, rtype, private)
            prefix = "" if rtype == "model" else f"{rtype}s/"
            return {"url": f"{hub.url}/{prefix}{repo_id}", "name": repo_id, "id": repo_id}

        @app.post("/api/validate-yaml")
        async def validate_yaml(request: Request):
            content = (await request.json())["content"]
            if content.startswith("---\n"):
                try:
                    yaml.safe_load(content.split("---\n")[1])
                except yaml.YAMLError as err:
                    return Response(json.dumps({"errors": [{"message": str(err)}]}), 400, media_type="application/json")
            return {"errors": [], "warnings": []}

        @app.post("/api/{rtype}/{ns}/{name}/preupload/{rev}")
        async def preupload(rtype: str, ns: str, name: str, rev: str, request: Request):
            hub._repo(request, rtype, ns, name, write=True)
            files = (await request.json())["files"]
            return {"files": [{"path": f["path"], "shouldIgnore": False,
                               "uploadMode": "lfs" if f["path"].endswith(LFS_SUFFIXES) else "regular"} for f in files]}

        @app.post("/{rtype}/{ns}/{name}.git/info/lfs/objects/batch")
        async def lfs_batch(rtype: str, ns: str, name: str, request: Request):
            hub._repo(request, rtype, ns, name, write=True)
            body = await request.json()
            objects = []
            for obj in body["objects"]:
                entry = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
                if obj["oid"] not in hub.lfs_objects:
                    entry["actions"] = {"upload": {"href": f"{hub.url}/_lfs/{obj['oid']}"},
                                        "verify": {"href": f"{hub.url}/_lfs/{obj['oid']}/verify"}}
                objects.append(entry)
            return Response(json.dumps({"transfer": "basic", "objects": objects}),
                            media_type="application/vnd.git-lfs+json")

        @app.put("/_lfs/{oid}")
        async def lfs_put(oid: str, request: Request):
            data = await request.body()
            if hashlib.sha256(data).hexdigest() != oid:
                raise HTTPException(400, detail="sha256 mismatch")
            hub.lfs_objects[oid] = data
            return Response(status_code=200)

        @app.post("/_lfs/{oid}/verify")
        async def lfs_verify(oid: str, request: Request):
            body = await request.json()
            if oid not in hub.lfs_objects or len(hub.lfs_objects[oid]) != body["size"]:
                raise HTTPException(404, detail="object not uploaded")
            return {"ok": True}

        @app.post("/api/{rtype}/{ns}/{name}/commit/{rev}")
        async def commit(rtype: str, ns: str, name: str, rev: str, request: Request):
            repo = hub._repo(request, rtype, ns, name, write=True)
            hub._check_rev(repo, rev)
            lines = [json.loads(line) for line in (await request.body()).splitlines() if line.strip()]
            header = next(x["value"] for x in lines if x["key"] == "header")
            files, lfs = dict(repo.files), set(repo.lfs)
            for item in lines:
                key, value = item["key"], item["value"]
                if key == "file":
                    files[value["path"]] = base64.b64decode(value["content"])
                    lfs.discard(value["path"])
                elif key == "lfsFile":
                    if value["oid"] not in hub.lfs_objects:
                        raise HTTPException(400, detail=f"LFS object of {value['path']} was not uploaded")
                    files[value["path"]] = hub.lfs_objects[value["oid"]]
                    lfs.add(value["path"])
                elif key == "deletedFile":
                    files.pop(value["path"], None)
            oid = hashlib.sha1(json.dumps([repo.sha, header, sorted((p, git_blob_oid(d)) for p, d in files.items())]
                                          ).encode()).hexdigest()
            repo.files, repo.lfs = files, lfs
            repo.commits.append({"oid": oid, "title": header["summary"], "time": time.time()})
            prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
            return {"commitUrl": f"{hub.url}/{prefix}{repo.repo_id}/commit/{oid}", "commitOid": oid,
                    "pullRequestUrl": None}

        @app.get("/api/{rtype}/{ns}/{name}")
        async def info(rtype: str, ns: str, name: str, request: Request):
            return hub._info(hub._repo(request, rtype, ns, name))

        @app.get("/api/{rtype}/{ns}/{name}/revision/{rev:path}")
        async def info_rev(rtype: str, ns: str, name: str, rev: str, request: Request):
            repo = hub._repo(request, rtype, ns, name)
            hub._check_rev(repo, rev)
            return hub._info(repo)

        @app.get("/api/{rtype}/{ns}/{name}/tree/{rev}/{path:path}")
        @app.get("/api/{rtype}/{ns}/{name}/tree/{rev}")
        async def tree(rtype: str, ns: str, name: str, rev: str, request: Request, path: str = ""):
            repo = hub._repo(request, rtype, ns, name)
            hub._check_rev(repo, rev)
            recursive = request.query_params.get("recursive", "").lower() in ("1", "true")
            return hub._tree(repo, path, recursive)

        @app.post("/api/{rtype}/{ns}/{name}/paths-info/{rev}")
        async def paths_info(rtype: str, ns: str, name: str, rev: str, request: Request):
            repo = hub._repo(request, rtype, ns, name)
            hub._check_rev(repo, rev)
            if request.headers.get("content-type", "").startswith("application/json"):
                paths = (await request.json()).get("paths", [])
            else:
                paths = (await request.form()).getlist("paths")
            out = []
            for p in paths:
                p = p.strip("/")
                if p in repo.files:
                    out.append(hub._entry(repo, p))
                elif any(f.startswith(p + "/") for f in repo.files) or p == "":
                    out.append({"type": "directory", "path": p, "oid": hashlib.sha1(p.encode()).hexdigest(), "size": 0})
            return out

        @app.api_route("/{rtype}/{ns}/{name}/resolve/{rev}/{path:path}", methods=["GET", "HEAD"])
        async def resolve(rtype: str, ns: str, name: str, rev: str, path: str, request: Request):
            repo = hub._repo(request, rtype, ns, name)
            hub._check_rev(repo, rev)
            if path not in repo.files:
                raise HTTPException(404, detail="Entry not found", headers={"X-Error-Code": "EntryNotFound"})
            data = repo.files[path]
            entry = hub._entry(repo, path)
            etag = entry["lfs"]["oid"] if "lfs" in entry else entry["oid"]
            headers = {"X-Repo-Commit": repo.sha, "ETag": f'"{etag}"', "Accept-Ranges": "bytes",
                       "Last-Modified": formatdate(usegmt=True)}
            if "lfs" in entry:
                headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))})
            status, body = 200, data
            rng = request.headers.get("range")
            if rng and rng.startswith("bytes="):
                start_s, _, end_s = rng[6:].partition("-")
                start = int(start_s) if start_s else max(0, len(data) - int(end_s))
                end = min(int(end_s), len(data) - 1) if end_s and start_s else len(data) - 1
                body, status = data[start:end + 1], 206
                headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            headers["Content-Length"] = str(len(body))
            if request.method == "HEAD":
                return Response(status_code=status, headers=headers)
            return Response(body, status_code=status, headers=headers, media_type="application/octet-stream")

        return app

    # --- lifecycle -----------------------------------------------------------------------------------
    def __enter__(self) -> HubServer:
        self._server, self._thread, self.port = serve_in_thread(self.app, log_level="warning", access_log=False)
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
