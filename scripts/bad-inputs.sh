#!/usr/bin/env bash
# Bad inputs and options, tried as a careless or hostile user would (issue 12): each row builds a
# damaged file or a bad command line, runs tq, and checks that it exits 1 or 2 with a first stderr
# line that names the file or option and the problem. Prints the markdown table of docs/STATUS.md
# ("Bad inputs") and exits 1 if any row does not behave as expected (CTest: cli_bad_inputs).
#   scripts/bad-inputs.sh [TQ_BINARY=build/release/bin/tq] [SHARED_DATA=../shared/data]
# Needs only bash, coreutils and grep (no Python): the damaged files are written byte by byte.
set -uo pipefail
cd "$(dirname "$0")/.."
TQ=$(realpath "${1:-build/release/bin/tq}")
DATA=$(realpath "${2:-../shared/data}")
S="$DATA/models/tq-ref-s"
W=$(mktemp -d "${TMPDIR:-/tmp}/tq_bad_inputs_XXXXXX")
trap 'rm -rf "$W"' EXIT
failed=0

# ---- little-endian writers -------------------------------------------------------------------
le() {  # le BYTES VALUE: VALUE as BYTES little-endian bytes (VALUE < 2^63, or -1 for all ones)
  local n=$1 v=$2 i out=""
  for ((i = 0; i < n; i++)); do
    if [ "$v" = -1 ]; then out+='\xff'; else out+=$(printf '\\x%02x' $(((v >> (8 * i)) & 255))); fi
  done
  printf "$out"
}
gstr() { le 8 ${#1}; printf '%s' "$1"; }  # GGUF string: u64 length + bytes
# patch FILE OFFSET BYTES...: overwrite bytes in place (BYTES as printf escapes, e.g. '\xff')
patch() { local f=$1 off=$2; shift 2; printf "$*" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none; }
# Byte offset of the first occurrence of STRING in FILE.
offset_of() { grep -obUaF -m1 "$2" "$1" | head -1 | cut -d: -f1; }

# A GGUF v3 file with general.architecture = llama and one tensor 'w' (type, ne0, offset), data
# of DATA_BYTES bytes after the 32-byte aligned header.
gguf_one_tensor() {  # out type_id ne0 offset data_bytes
  {
    printf 'GGUF'; le 4 3; le 8 1; le 8 1
    gstr general.architecture; le 4 8; gstr llama
    gstr w; le 4 1; le 8 "$3"; le 4 "$2"; le 8 "$4"
  } > "$1"
  local size; size=$(stat -c %s "$1")
  head -c $(((32 - size % 32) % 32 + $5)) /dev/zero >> "$1"
}

# ---- the table --------------------------------------------------------------------------------
echo "| bad input | command | exit | first line of stderr |"
echo "|---|---|---|---|"
# row DESCRIPTION EXPECT_REGEX -- COMMAND...: runs it; exit must be 1 or 2, stderr's first line
# must match EXPECT_REGEX (extended grep).
row() {
  local what=$1 want=$2; shift 3
  "$@" > "$W/out" 2> "$W/err" < /dev/null
  local rc=$? line
  line=$(head -n 1 "$W/err" | sed "s|$W/||g; s|$DATA/|DATA/|g")
  local shown
  shown=$(printf '%q ' "${@:2}" | sed "s|$W/||g; s|$DATA/|DATA/|g; s| \$||")
  local ok=yes
  if [ $rc -ne 1 ] && [ $rc -ne 2 ]; then ok=no; fi
  if ! printf '%s\n' "$line" | grep -qE -- "$want"; then ok=no; fi
  if [ $ok = no ]; then
    failed=1
    echo "UNEXPECTED: $what: exit $rc, first stderr line: $(head -n 1 "$W/err")" >&2
  fi
  printf '| %s | `tq %s` | %s | `%s` |\n' "$what" "$shown" "$rc" "${line//|/\\|}"
}

# GGUF: a 1-D f32 tensor of 2^62 elements (2^64 bytes: used to wrap to 0 and be accepted).
gguf_one_tensor "$W/huge.gguf" 0 $((1 << 62)) 0 64
row "GGUF 1-D f32 tensor of 2^62 elements (2^64 bytes)" "huge\.gguf: tensor 'w'.*needs more than 2\^64 bytes" \
  -- "$TQ" convert -q -m "$W/huge.gguf" -o "$W/huge-out.gguf"
gguf_one_tensor "$W/badtype.gguf" 4 32 0 128
row "GGUF tensor of removed type id 4 (q4_2)" "badtype\.gguf: tensor 'w' has unknown tensor type id 4" \
  -- "$TQ" inspect "$W/badtype.gguf"
gguf_one_tensor "$W/oob.gguf" 0 32 1048576 128
row "GGUF tensor offset past the end of the file" "oob\.gguf: tensor 'w' data .* lies outside the data section" \
  -- "$TQ" inspect "$W/oob.gguf"
{ printf 'GGUF'; le 4 3; le 8 $((1 << 60)); le 8 0; } > "$W/count.gguf"
row "GGUF header claiming 2^60 tensors" "count\.gguf: header claims 1152921504606846976 tensors" \
  -- "$TQ" inspect "$W/count.gguf"
"$TQ" convert -q -m "$S" -o "$W/s-f16.gguf" --type f16 > /dev/null
for cut in 7 23 100 4096 1000000; do
  head -c "$cut" "$W/s-f16.gguf" > "$W/cut-$cut.gguf"
  row "GGUF cut after $cut bytes" "cut-$cut\.gguf: .*(truncated|ends at byte|cannot fit|bytes of file can hold)" \
    -- "$TQ" inspect "$W/cut-$cut.gguf"
done

# safetensors: two tensors sharing bytes (used to load silently); a broken header.
mkdir -p "$W/overlap"
cp "$S/config.json" "$W/overlap/"
hdr='{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}'
{ le 8 ${#hdr}; printf '%s' "$hdr"; head -c 16 /dev/zero; } > "$W/overlap/model.safetensors"
row "safetensors tensors with overlapping byte ranges" "model\.safetensors: tensors 'a' and 'b' overlap" \
  -- "$TQ" inspect "$W/overlap"
mkdir -p "$W/hdr"
cp "$S/config.json" "$W/hdr/"
{ le 8 1000; printf '{"a":'; } > "$W/hdr/model.safetensors"
row "safetensors header length past the end of the file" "model\.safetensors: header length 1000 exceeds the file size" \
  -- "$TQ" inspect "$W/hdr"
mkdir -p "$W/cfg"
cp "$S/model.safetensors" "$W/cfg/"
printf '{"architectures": ["LlamaForCausalLM"], "hidden_size": 256,' > "$W/cfg/config.json"
row "config.json that is not JSON" "cfg/config\.json: " -- "$TQ" inspect "$W/cfg"
mkdir -p "$W/tok"
cp "$S/config.json" "$S/model.safetensors" "$W/tok/"
printf '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [' > "$W/tok/tokenizer.json"
row "tokenizer.json that is not JSON" "tok/tokenizer\.json: " -- "$TQ" tokenize -m "$W/tok" -p hi

# Special token ids outside the vocabulary (0xFFFFFFFF used to mean "no EOS").
cp "$W/s-f16.gguf" "$W/eos.gguf"
off=$(offset_of "$W/eos.gguf" tokenizer.ggml.eos_token_id)
patch "$W/eos.gguf" $((off + 27 + 4)) '\xff\xff\xff\xff'
row "GGUF eos_token_id = 0xFFFFFFFF" "eos\.gguf: tokenizer\.ggml\.eos_token_id = 4294967295 is outside the vocabulary" \
  -- "$TQ" run -m "$W/eos.gguf" -p Hello -n 4

# Damaged files that tq wrote: caught by the per-tensor checksums.
"$TQ" convert -q -m "$S" -o "$W/s-tq4.gguf" --type tq4g128 > /dev/null
size=$(stat -c %s "$W/s-tq4.gguf")
for k in 1 2 3 4 5 6 7 8; do patch "$W/s-tq4.gguf" $((size - 997 * k)) '\x5a'; done
row "tq4 file with 8 flipped data bytes" "s-tq4\.gguf: tensor '.*' \(tq4g128 .*\) is damaged" \
  -- "$TQ" run -m "$W/s-tq4.gguf" -p Hello -n 4
cp "$W/s-f16.gguf" "$W/retype.gguf"
off=$(offset_of "$W/retype.gguf" blk.5.ffn_down.weight)
patch "$W/retype.gguf" $((off + 21 + 4 + 16)) '\x08'  # type f16 (1) -> q8_0 (8)
row "tensor type edited f16 -> q8_0 (a smaller type)" "retype\.gguf: tensor 'blk\.5\.ffn_down\.weight' \(q8_0 .*\) is damaged" \
  -- "$TQ" run -m "$W/retype.gguf" -p Hello -n 4
row "the same, checked by tq inspect --verify" "retype\.gguf: tensor 'blk\.5\.ffn_down\.weight' .* is damaged" \
  -- "$TQ" inspect --verify "$W/retype.gguf"

# NaN weights in a file without checksums (an HF folder): a non-finite logit is an error.
mkdir -p "$W/nan"
cp "$S/config.json" "$S/tokenizer.json" "$W/nan/"
cp "$S/model.safetensors" "$W/nan/"
hlen=$(od -An -t u8 -N 8 "$W/nan/model.safetensors" | tr -d ' ')
nbytes=$(($(stat -c %s "$W/nan/model.safetensors") - 8 - hlen))
head -c "$nbytes" /dev/zero | tr '\0' '\377' | dd of="$W/nan/model.safetensors" bs=1M seek=$((8 + hlen)) \
  oflag=seek_bytes conv=notrunc status=none
row "every weight NaN (tq run)" "nan: the model computed a non-finite logit" \
  -- "$TQ" run -m "$W/nan" -p Hello -n 4
printf 'Once upon a time there was a little girl who lived in a village near the forest. %.0s' {1..40} > "$W/text.txt"
row "every weight NaN (tq perplexity)" "nan: the model computed a non-finite logit" \
  -- "$TQ" perplexity -q -m "$W/nan" -f "$W/text.txt" --ctx 64

# Memory: a context that cannot fit is refused before allocating (used to abort in bad_alloc).
row "tq run --ctx 100000000" "tq-ref-s: a context of 100,000,000 positions needs .* but .* is available: at most .* positions fit" \
  -- "$TQ" run -m "$S" -p Hello -n 4 --ctx 100000000

# Numeric options: refused while parsing.
row "-n -1" "^tq: --n-predict: -1 is out of range" -- "$TQ" run -m "$S" -p hi -n -1
row "--temp -1" "^tq: --temp: -1 is out of range" -- "$TQ" run -m "$S" -p hi --temp -1
row "--temp nan" "^tq: --temp: nan is not a finite number" -- "$TQ" run -m "$S" -p hi --temp nan
row "--top-p 5" "^tq: --top-p: 5 is out of range" -- "$TQ" run -m "$S" -p hi --top-p 5
row "--top-k -5" "^tq: --top-k: -5 is out of range" -- "$TQ" run -m "$S" -p hi --top-k -5
row "perplexity --ctx -5 (used to mean 512)" "^tq: --ctx: -5 is out of range" \
  -- "$TQ" perplexity -m "$S" -f "$W/text.txt" --ctx -5
row "--chunks -1 (used to mean all)" "^tq: --chunks: -1 is out of range" \
  -- "$TQ" perplexity -m "$S" -f "$W/text.txt" --chunks -1
row "--batch 0" "^tq: --batch: 0 is out of range" -- "$TQ" run -m "$S" -p hi --batch 0
row "-t -3" "^tq: --threads: -3 is out of range" -- "$TQ" run -m "$S" -p hi -t -3
row "quantize --bpw inf" "^tq: --bpw: inf is not a finite number" \
  -- "$TQ" quantize -m "$S" -o "$W/q.gguf" --bpw inf
row "bench -r 0" "^tq: --reps: 0 is out of range" -- "$TQ" bench -m "$S" -r 0

# Outputs: checked before any work; nothing but a regular file is ever replaced.
row "-o /dev/null" "^tq: .*-o /dev/null: is a character device" \
  -- "$TQ" convert -q -m "$S" -o /dev/null --type f16
row "-o /dev/full" "^tq: .*-o /dev/full: is a character device" \
  -- "$TQ" convert -q -m "$S" -o /dev/full --type f16
mkdir -p "$W/outdir"
row "-o an existing folder" "^tq: .*-o outdir: is a folder" \
  -- "$TQ" quantize -m "$S" -o "$W/outdir" --recipe tq4
row "-o in a missing folder" "^tq: .*-o nowhere/x\.gguf: the folder .*nowhere does not exist" \
  -- "$TQ" convert -q -m "$S" -o "$W/nowhere/x.gguf"
row "--save-logits to a folder" "^tq: .*--save-logits outdir: is a folder" \
  -- "$TQ" perplexity -m "$S" -f "$W/text.txt" --save-logits "$W/outdir"

# SIGKILL during a write: no temporary file is left (O_TMPFILE), or the next run removes it.
mkdir -p "$W/kill"
"$TQ" convert -q -m "$DATA/models/tq-ref-m" -o "$W/kill/m.gguf" --type tq4g128 > /dev/null 2>&1 &
pid=$!
sleep 0.5
kill -9 "$pid" 2> /dev/null
wait "$pid" 2> /dev/null
left=$(ls -A "$W/kill" | grep -vx 'm.gguf' | tr '\n' ' ')
if [ -n "$left" ]; then
  failed=1
  echo "UNEXPECTED: SIGKILL during tq convert left: $left" >&2
fi
if [ -e "$W/kill/m.gguf" ]; then done_note=" (it had finished)"; else done_note=""; fi
printf '| %s | `%s` | %s | %s |\n' "SIGKILL during tq convert$done_note" "tq convert ... & kill -9" "137" \
  "${left:-no temporary file left}"

exit $failed
