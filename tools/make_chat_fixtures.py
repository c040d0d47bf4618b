#!/usr/bin/env python3
"""Reference renderings of chat templates and Jinja snippets with Python's jinja2, set up as
Hugging Face's apply_chat_template sets it up (sandboxed, trim_blocks, lstrip_blocks, loop
controls, HF's tojson and raise_exception), for tests/io/jinja_test.cc and chat_template_test.cc.

    pip install jinja2==3.1.6
    python3 tools/make_chat_fixtures.py [--out tests/data/chat]

Templates: SmolLM2 (from the GGUF scripts/get-real-models.sh fetches), Llama 3.1 / 3.2, Qwen2.5,
Qwen3, Mistral Nemo and Gemma 2 (llama.cpp's models/templates, from the llama-cpp-python sdist:
scripts/anchors/llamacpp.sh --src), Gemma 3 (its tokenizer_config.json template, below).
Writes <out>/<name>.jinja, <out>/templates.json (conversations and renderings) and
<out>/snippets.json (one construct each). The build never runs this.
"""
import argparse
import json
import os
import struct
import subprocess

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# google/gemma-3-*-it tokenizer_config.json chat_template (the 270M GGUF is the base model and
# ships none).
GEMMA3 = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\\n'}}
{%- endif -%}
"""

# name -> (source, bos_token, eos_token)
TEMPLATES = {
    "smollm2": ("gguf:SmolLM2-135M-Instruct.Q4_1.gguf", "<|im_start|>", "<|im_end|>"),
    "llama3.1": ("llama.cpp:meta-llama-Llama-3.1-8B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    "llama3.2": ("llama.cpp:meta-llama-Llama-3.2-3B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    "qwen2.5": ("llama.cpp:Qwen-Qwen2.5-7B-Instruct.jinja", None, "<|im_end|>"),
    "qwen3": ("llama.cpp:Qwen-Qwen3-0.6B.jinja", None, "<|im_end|>"),
    "mistral-nemo": ("llama.cpp:mistralai-Mistral-Nemo-Instruct-2407.jinja", "<s>", "</s>"),
    "gemma2": ("llama.cpp:google-gemma-2-2b-it.jinja", "<bos>", "<eos>"),
    "gemma3": ("inline", "<bos>", "<eos>"),
}

SYS = {"role": "system", "content": "You are a terse assistant."}
U1 = {"role": "user", "content": "What is the capital of France?"}
A1 = {"role": "assistant", "content": "Paris."}
U2 = {"role": "user", "content": "  And of Italy? Answer with \"one\" word.\n"}
A_THINK = {"role": "assistant", "content": "<think>\nThe user asks about Italy.\n</think>\n\nRome."}
CONVERSATIONS = [
    ("one user turn", [U1], True),
    ("system and user", [SYS, U1], True),
    ("two turns", [U1, A1, U2], True),
    ("system, two turns", [SYS, U1, A1, U2], True),
    ("finished conversation", [SYS, U1, A1], False),
    ("assistant with thinking", [U1, A_THINK, U2], True),
    ("roles do not alternate", [U1, U2], True),
]

# One construct each: (template, context).
SNIPPETS = [
    ("{{ 'a' + 'b' }}|{{ 1 + 2 * 3 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 % 3 }}|{{ -7 % 3 }}|{{ 7 / 2 }}|{{ 2 ** 10 }}", {}),
    ("{{ 'x' ~ 1 ~ none }}|{{ 1 ~ (2 + 3) }}|{{ 'a' ~ 2 * 3 }}|{{ 'ab' * 3 }}", {}),
    ("{{ 1 < 2 }}{{ 'a' == 'a' }}{{ 1 == 1.0 }}{{ not true }}{{ 1 if false }}{{ 1 if false else 2 }}", {}),
    ("{{ 'ell' in 'hello' }}{{ 2 in [1, 2] }}{{ 'k' in {'k': 1} }}{{ 3 not in [1] }}", {}),
    ("{{ none }}|{{ true }}|{{ 1.5 }}|{{ 2.0 }}|{{ [1, 'a', none, true] }}|{{ {'a': 1, 'b': 'x'} }}|{{ undefined_name }}|", {}),
    ("{{ x.a }}|{{ x['a'] }}|{{ x.missing is defined }}|{{ y is defined }}|{{ l[0] }}|{{ l[-1] }}|{{ l[9] is defined }}", {"x": {"a": 1}, "l": [1, 2, 3]}),
    ("{{ l[1:] }}|{{ l[:-1] }}|{{ l[::-1] }}|{{ l[::2] }}|{{ s[1:3] }}|{{ s[::-1] }}|{{ s[-2:] }}", {"l": [1, 2, 3, 4], "s": "héllo"}),
    ("{% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }};{% endfor %}", {"l": ["a", "b", "c"]}),
    ("{% for x in l if x > 1 %}{{ x }}{{ loop.index }},{% else %}empty{% endfor %}|{% for x in [] %}{% else %}empty{% endfor %}", {"l": [1, 2, 3]}),
    ("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for k in d %}{{ k }}{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("{% for x in l %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}", {"l": [1, 2, 3, 4, 5]}),
    ("{% if a %}A{% elif b %}B{% else %}C{% endif %}{% if not a and not b %}D{% endif %}", {"a": False, "b": 0}),
    ("{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}|{{ x }}", {}),
    ("{% set ns = namespace(n=0, s='') %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", {}),
    ("{% set a, b = [1, 2] %}{{ a }}{{ b }}|{{ range(2, 8, 3) | list }}", {}),
    ("{{ '  x  ' | trim }}|{{ 'aBc' | upper }}|{{ 'aBc' | lower }}|{{ 'hello world' | title }}|{{ 'hello' | capitalize }}", {}),
    ("{{ l | length }}|{{ 'héllo' | length }}|{{ d | length }}|{{ l | first }}|{{ l | last }}|{{ l | join(', ') }}|{{ l | reverse | list }}", {"l": [3, 1, 2], "d": {"a": 1}}),
    ("{{ d | tojson }}|{{ l | tojson }}|{{ 'é\"\\n' | tojson }}|{{ d | tojson(indent=2) }}", {"d": {"a": [1, 2.5, None, True], "b": {"c": "x"}}, "l": []}),
    ("{{ msgs | selectattr('role', 'equalto', 'user') | list | length }}|{{ msgs | rejectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}", {"msgs": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}),
    ("{{ x | default('d') }}|{{ '' | default('d', true) }}|{{ 'a-b-c' | replace('-', '+') }}|{{ l | sort | list }}|{{ l | unique | list }}|{{ l | sum }}|{{ l | max }}|{{ '3' | int + 1 }}", {"l": [3, 1, 3, 2]}),
    ("{{ ' a b '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '\\nab'.lstrip('\\n') }}|{{ 'ab  '.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a</think>b'.split('</think>')[-1] }}", {}),
    ("{{ 'hello'.startswith('he') }}{{ 'hello'.endswith('lo') }}{{ 'hello'.startswith(('x', 'h')) }}|{{ 'abc'.upper() }}|{{ 'a-b'.replace('-', '_') }}|{{ d.get('a') }}{{ d.get('z', 0) }}{{ d.get('z') }}|{{ d.keys() | list }}{{ d.values() | list }}", {"d": {"a": 1}}),
    ("{{ x is string }}{{ x is number }}{{ 1 is integer }}{{ 1.0 is float }}{{ d is mapping }}{{ l is iterable }}{{ none is none }}{{ x is not none }}{{ 4 is even }}{{ 3 is odd }}{{ 9 is divisibleby 3 }}{{ false is false }}", {"x": "s", "d": {}, "l": []}),
    ("{{ m.tool_calls is defined and m.tool_calls is not none }}|{{ m.content.content is defined }}|{{ m == m2 }}|{{ m == l[0] }}", {"m": {"role": "user", "content": "hi"}, "m2": {"content": "hi", "role": "user"}, "l": [{"role": "user", "content": "hi"}]}),
    ("a\n  {% if true %}\n    b\n  {% endif %}\nc\n{# comment #}\nd {{- ' e ' -}} f\n  {%- if true %} g{% endif %}", {}),
    ("{% for i in [1,2] -%}\n  {{ i }}\n{%- endfor %}\n{%+ if true %}x{% endif %}\n{{ \"it's\" }}{{ 'say \"hi\"' }}", {}),
    ("{% for m in messages %}{{ m['role'] }}:{{ m.content | trim }}{% if not loop.last %}\n{% endif %}{% endfor %}", {"messages": [{"role": "user", "content": " hi "}, {"role": "assistant", "content": "yo"}]}),
]

ERRORS = [  # (template, context, a fragment of our error message)
    ("{{ raise_exception('bad conversation') }}", {}, "bad conversation"),
    ("{% if x %}unclosed", {}, "expected 'endif'"),
    ("{{ 'a' + 1 }}", {}, "unsupported operand types for +: str and int"),
    ("{{ 1 ~ 2 + 3 }}", {}, "unsupported operand types for +: str and int"),
    ("{{ x.y.z }}", {}, "cannot read '.y' of an undefined value"),
    ("{% frobnicate %}", {}, "unsupported statement 'frobnicate'"),
    ("{{ 1 + }}", {}, "expected a value"),
    ("{{ 'x' | nosuchfilter }}", {}, "unknown filter 'nosuchfilter'"),
    ("{% for x in 5 %}{% endfor %}", {}, "cannot iterate over a int"),
    ("{{ 'abc", {}, "never closed"),
]


def hf_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def gguf_string(path, key):
    b = open(path, "rb").read()
    _, _, n_kv = struct.unpack_from("<IQQ", b, 4)
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def rs(o):
        n = struct.unpack_from("<Q", b, o)[0]
        return b[o + 8:o + 8 + n], o + 8 + n

    def skip(t, o):
        if t == 8:
            return rs(o)[1]
        if t == 9:
            at, n = struct.unpack_from("<IQ", b, o)
            o += 12
            for _ in range(n):
                o = skip(at, o)
            return o
        return o + sizes[t]

    o = 24
    for _ in range(n_kv):
        k, o = rs(o)
        t = struct.unpack_from("<I", b, o)[0]
        o += 4
        if k.decode() == key and t == 8:
            return rs(o)[0].decode()
        o = skip(t, o)
    raise KeyError(f"{path}: no {key}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "tests/data/chat"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    src = subprocess.run(["bash", os.path.join(REPO, "scripts/anchors/llamacpp.sh"), "--src"],
                         check=True, capture_output=True, text=True).stdout.strip()
    models = subprocess.run(["bash", os.path.join(REPO, "scripts/get-real-models.sh")],
                            check=True, capture_output=True, text=True).stdout.strip()
    env = hf_env()
    out = {"generator": "tools/make_chat_fixtures.py", "jinja2": jinja2.__version__, "templates": []}
    for name, (source, bos, eos) in TEMPLATES.items():
        if source == "inline":
            text = GEMMA3
        elif source.startswith("gguf:"):
            text = gguf_string(os.path.join(models, source[5:]), "tokenizer.chat_template")
        else:
            text = open(os.path.join(src, "models/templates", source.split(":", 1)[1]), encoding="utf-8").read()
        with open(os.path.join(args.out, f"{name}.jinja"), "w", encoding="utf-8") as f:
            f.write(text)
        tmpl = env.from_string(text)
        cases = []
        for label, messages, add_gen in CONVERSATIONS:
            ctx = {"messages": messages, "add_generation_prompt": add_gen, "bos_token": bos or "", "eos_token": eos}
            case = {"label": label, "messages": messages, "add_generation_prompt": add_gen}
            try:
                case["rendered"] = tmpl.render(**ctx)
            except jinja2.exceptions.TemplateError as e:
                case["error"] = str(e)
            cases.append(case)
        out["templates"].append({"name": name, "file": f"{name}.jinja", "bos_token": bos or "",
                                 "eos_token": eos, "cases": cases})
    with open(os.path.join(args.out, "templates.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    snippets = []
    for text, ctx in SNIPPETS:
        snippets.append({"template": text, "context": ctx, "rendered": env.from_string(text).render(**ctx)})
    errors = []
    for text, ctx, fragment in ERRORS:
        try:
            env.from_string(text).render(**ctx)
            raise SystemExit(f"jinja2 accepted {text!r}, which should be an error")
        except (jinja2.exceptions.TemplateError, TypeError) as e:
            errors.append({"template": text, "context": ctx, "jinja2": f"{type(e).__name__}: {e}", "fragment": fragment})
    with open(os.path.join(args.out, "snippets.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": "tools/make_chat_fixtures.py", "jinja2": jinja2.__version__,
                   "snippets": snippets, "errors": errors}, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
