# Sourced by the scripts/results-*.sh (from the repository root): the results file and shared helpers.

RESULTS=docs/RESULTS.md
# The commit measured, "-dirty" when tracked files other than the results file differ from it.
COMMIT=$(git describe --always)
git diff --quiet HEAD -- . ":!$RESULTS" || COMMIT="$COMMIT-dirty"
[ -f "$RESULTS" ] || printf '# Results\n\nEvery number here is produced by a command in this repository.\n\n' >"$RESULTS"

# replace_section NAME FILE: puts FILE between <!-- NAME:begin --> and <!-- NAME:end --> of $RESULTS
# (appending the two markers first when the section does not exist yet).
replace_section() {
  grep -q "<!-- $1:begin -->" "$RESULTS" || printf '<!-- %s:begin -->\n<!-- %s:end -->\n\n' "$1" "$1" >>"$RESULTS"
  awk -v name="$1" -v f="$2" '
    $0 == "<!-- " name ":begin -->" { print; while ((getline l < f) > 0) print l; skip = 1; next }
    $0 == "<!-- " name ":end -->" { skip = 0 }
    !skip' "$RESULTS" >"$RESULTS.tmp" && mv "$RESULTS.tmp" "$RESULTS"
}
