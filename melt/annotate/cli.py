"""`melt-annotate`: any prompt file through the annotation engine, outside DVC, with the same store and limits.

    melt-annotate --input prompts.jsonl --output answers.jsonl --base-url URL --model M \
        [--concurrency 8 --rpm 500 --tpm 200000 --timeout 60 --store DIR ...]

Input lines `{"id", "prompt"}` or `{"id", "messages"}` (chat messages); output lines `{"id", "content",
"parsed", "error"}` in input order (`parsed`: the content as JSON when it is JSON, else null; `error`: why
there is no content). With `--response-format json_object` an answer that is not JSON is asked again (a new
seed) up to `--reasks` times, then reported with its content and the error. Every answer goes to the answer store (`--store`, default cache/llm-store), so a re-run
asks only for what is missing. The API key comes from the environment (`--api-key-env`, default
OPENAI_API_KEY) only. Several `--base-url` are several endpoints of the same model.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Iterator

from melt.annotate.limits import Endpoint
from melt.annotate.schema import Checked

NO_ANSWER = "no answer (the request failed: see the log)"


class InputError(ValueError):
    """A prompt file line that is not a usable prompt (the message names file and line)."""


def check_any(raw: str | None) -> Checked:
    """Any content is an answer; `parsed` is its JSON value when it is JSON."""
    if raw is None:
        return Checked(None, None, "empty answer (no content)")
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        parsed = None
    return Checked("answer", parsed, None)


def check_json(raw: str | None) -> Checked:
    """An answer must be a JSON value (asked for with `--response-format json_object`)."""
    checked = check_any(raw)
    if checked.label is not None and checked.parsed is None:
        return Checked(None, None, "the answer is not JSON")
    return checked


def read_prompts(path: Path) -> Iterator[tuple[int, object, list[dict]]]:
    """(line number, id, messages) of each line; a bad line stops with its file and line number."""
    seen = set()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"{path}: line {n} is not JSON: {err}") from None
            if not isinstance(obj, dict) or "id" not in obj:
                raise InputError(f"{path}: line {n} has no \"id\"")
            ident = obj["id"]
            if not isinstance(ident, (str, int)) or isinstance(ident, bool):
                raise InputError(f"{path}: line {n}: \"id\" must be a string or an integer, got {ident!r}")
            if ident in seen:
                raise InputError(f"{path}: line {n}: duplicate id {ident!r}")
            seen.add(ident)
            if isinstance(obj.get("prompt"), str) and "messages" not in obj:
                messages = [{"role": "user", "content": obj["prompt"]}]
            elif isinstance(obj.get("messages"), list) and obj["messages"] and "prompt" not in obj and all(
                    isinstance(m, dict) and "role" in m and "content" in m for m in obj["messages"]):
                messages = obj["messages"]
            else:
                raise InputError(f"{path}: line {n} (id {ident!r}): needs a string \"prompt\" or a non-empty list "
                                 "\"messages\" of {\"role\", \"content\"}, not both")
            yield n, ident, messages


def settings_from(args):
    from melt.annotate.params import AnnotatorSettings
    from melt.annotate.limits import StoreDurability

    urls = args.base_url
    limits = dict(concurrency=args.concurrency, rpm=args.rpm, tpm=args.tpm, timeout_s=args.timeout,
                  deadline_s=args.deadline, max_retries=args.max_retries, hedge_max_share=args.hedge_max_share)
    return AnnotatorSettings(
        backend="openai", model=args.model, base_url=urls[0] if len(urls) == 1 else None, api_key_env=args.api_key_env,
        provider=args.provider, endpoints=[Endpoint(base_url=u, api_key_env=args.api_key_env) for u in urls]
        if len(urls) > 1 else [], temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed,
        response_format=args.response_format, max_invalid_retries=args.reasks, prices={}, name="cli",
        store=str(args.store), durability=StoreDurability(fsync_every=args.fsync_every), **limits)


def requests_of(path: Path, settings) -> list[dict]:
    from melt.annotate.requests import sample_requests
    return [next(sample_requests({"id": ident, "line": n}, messages, settings, settings.model))
            for n, ident, messages in read_prompts(path)]


def annotate_file(args) -> dict:
    """Read, answer what the store lacks, write the answers in input order; returns the run's figures."""
    from melt.annotate.engine import Progress, resolve
    from melt.annotate.run import fill
    from melt.annotate.store import AnswerStore
    from melt.io import atomic_open

    started = time.monotonic()
    settings = settings_from(args)
    check = check_json if args.response_format == "json_object" else check_any
    prompts = requests_of(Path(args.input), settings)
    with AnswerStore(args.store, durability=settings.durability) as store:
        bar = Progress(len(prompts), args.progress, desc="melt-annotate")
        try:
            stats = fill(settings, lambda: iter(prompts), store, bar, check=check)
        finally:
            bar.close()
        failed = 0
        with atomic_open(Path(args.output), "w") as out:
            for prompt in prompts:
                fields = resolve(prompt, store, settings, check=check).fields
                ok = fields["status"] == "ok"
                failed += not ok
                reason = stats.failures.get(prompt["key"], NO_ANSWER) if fields["raw"] is None else fields["error"]
                out.write(json.dumps({"id": prompt["id"], "content": fields["raw"], "parsed": fields["parsed"],
                                      "error": None if ok else reason}, ensure_ascii=False) + "\n")
    return {"prompts": len(prompts), "answered_from_store": stats.cache_hits, "requests_sent": stats.requests_sent,
            "hedges": stats.hedges, "reasks": stats.reasks, "failed": failed,
            "seconds": round(time.monotonic() - started, 3), "store": str(Path(args.store).resolve())}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="melt-annotate", description=__doc__.split("\n\n")[0])
    p.add_argument("--input", required=True, help='JSONL: {"id", "prompt"} or {"id", "messages"} per line')
    p.add_argument("--output", required=True, help='JSONL: {"id", "content", "parsed", "error"}, input order')
    p.add_argument("--base-url", required=True, action="append", help="OpenAI-compatible server (repeat: endpoints)")
    p.add_argument("--model", required=True)
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable of the key")
    p.add_argument("--provider", default=None, help="provider name in the store keys (default: the host)")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--rpm", type=_rate, default=500.0, help="requests per minute per endpoint, or auto")
    p.add_argument("--tpm", type=_rate, default=200_000.0, help="tokens per minute per endpoint, or auto")
    p.add_argument("--timeout", type=float, default=60.0, help="httpx timeout per phase, seconds")
    p.add_argument("--deadline", type=float, default=120.0, help="overall deadline of one attempt, seconds")
    p.add_argument("--max-retries", type=int, default=8)
    p.add_argument("--hedge-max-share", type=float, default=0.05, help="0 = no hedging")
    p.add_argument("--max-tokens", type=int, default=400)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--response-format", choices=["none", "json_object"], default="none")
    p.add_argument("--reasks", type=int, default=2, help="re-asks of a non-JSON answer under json_object")
    p.add_argument("--fsync-every", type=int, default=64, help="group commit of the store; 0 = no fsync")
    p.add_argument("--store", type=Path, default=Path("cache/llm-store"), help="answer store folder")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=sys.stderr.isatty())
    return p


def _rate(text: str) -> float | str:
    return "auto" if text == "auto" else float(text)


def main(argv: list[str] | None = None) -> int:
    from pydantic import ValidationError

    from melt.annotate.backends import FatalBackendError

    args = parser().parse_args(argv)
    try:
        summary = annotate_file(args)
    except (InputError, FatalBackendError, FileNotFoundError) as err:
        print(f"melt-annotate: {err}", file=sys.stderr)
        return 2
    except ValidationError as err:
        print(f"melt-annotate: invalid option: {err}", file=sys.stderr)
        return 2
    print(json.dumps(summary), file=sys.stderr)
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
