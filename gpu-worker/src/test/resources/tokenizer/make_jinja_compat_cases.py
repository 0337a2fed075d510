#!/usr/bin/env python3
"""Refreshes the expected outputs in jinja_compat_cases.json with real Jinja2.

Each case is {"t": template, "v": variables}; this script renders it the way Hugging Face
transformers renders chat templates (ImmutableSandboxedEnvironment, trim_blocks=True,
lstrip_blocks=True, loopcontrols, HF's tojson and raise_exception) and stores "want" (the
output) or "error" (what Jinja2 raised). ChatTemplateCompatCorpusTest checks chunkserve's
ChatTemplate against it. To add a case, append {"t": ..., "v": {...}} and run:

    python3 make_jinja_compat_cases.py   (needs jinja2 >= 3.1; made with 3.1.6)
"""
import json
import os

import jinja2
import jinja2.ext
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.path.join(HERE, "jinja_compat_cases.json")


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception

cases = json.load(open(PATH, encoding="utf-8"))["cases"]
out = []
for c in cases:
    entry = {"t": c["t"], "v": c.get("v", {})}
    try:
        entry["want"] = env.from_string(c["t"]).render(**entry["v"])
    except Exception as e:  # noqa: BLE001 - any Jinja2 failure is an expected failure
        entry["error"] = type(e).__name__ + ": " + str(e)
    out.append(entry)
with open(PATH, "w", encoding="utf-8") as f:  # one case per line
    f.write('{"jinja2": "%s", "cases": [\n' % jinja2.__version__)
    f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in out))
    f.write("\n]}\n")
print(len(out), "cases,", sum("error" in c for c in out), "expected errors")
