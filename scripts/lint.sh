#!/usr/bin/env bash
# Static checks: clang-tidy (.clang-tidy) and clang-format --dry-run
# (.clang-format) on C/C++ files of the repository.
#
#   scripts/lint.sh            the files changed since `git merge-base HEAD origin/main`
#                              (HEAD~1 when there is no origin/main), committed or not
#   scripts/lint.sh --all      every tracked C/C++ file
#   scripts/lint.sh FILES...   these files
#   scripts/lint.sh --ci       what CI runs: clang-format on every tracked file,
#                              clang-tidy on the files changed since the commit
#                              named in .ci/lint-base (the last one at which
#                              `scripts/lint.sh --all` was clean), and on the
#                              .cc files that include a changed header
#
# clang-tidy reads the compile commands of build/compile_commands.json
# (CMAKE_EXPORT_COMPILE_COMMANDS is on; KESTREL_LINT_BUILD_DIR names another
# build tree; the tree is configured when it has none). It checks the .cc
# files listed there; headers are checked through the files that include
# them (only the repository's own src/, include/, tools/, tests/ and
# python/, matched from the repository's absolute path so that a checkout
# under a folder named src/ does not pull in the generated FlatBuffers header),
# and clang-format checks every file. Nothing is
# rewritten: apply a formatting with `clang-format -i FILE` on the files you
# own.
#
# Prints the findings, then a count per clang-tidy check and the number of
# files clang-format would change. Exit status: 0 when there are no findings,
# 1 when there are, 2 on a usage or setup error.
# Env: KESTREL_LINT_BUILD_DIR (build), JOBS (2), CLANG_TIDY, CLANG_FORMAT, LINT_FORMAT=0 or LINT_TIDY=0 to skip one.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${KESTREL_LINT_BUILD_DIR:-build}
jobs=${JOBS:-2}
clang_tidy=${CLANG_TIDY:-clang-tidy-14}
clang_format=${CLANG_FORMAT:-clang-format-14}
for tool in "$clang_tidy" "$clang_format"; do
  command -v "$tool" >/dev/null || { echo "lint.sh: $tool not found (Debian packages clang-tidy-14, clang-format-14, libomp-14-dev)" >&2; exit 2; }
done
# clang-tidy parses the OpenMP units with clang's own headers; GCC's omp.h is
# not on its path.
if [[ ${LINT_TIDY:-1} != 0 && $clang_tidy == clang-tidy-14 ]] &&
   ! ls /usr/lib/llvm-14/lib/clang/*/include/omp.h >/dev/null 2>&1; then
  echo "lint.sh: clang's omp.h not found (Debian package libomp-14-dev)" >&2
  exit 2
fi
header_filter="^$PWD/(src|include|tools|tests|python)/"

is_source() { [[ $1 =~ \.(cc|h|hpp|c)$ && $1 != build*/* ]]; }

files=()
tidy_files=()  # --ci: clang-tidy's own list (clang-format takes every file)
if [[ ${1:-} == --all ]]; then
  mapfile -t files < <(git ls-files '*.cc' '*.h' '*.hpp' '*.c')
elif [[ ${1:-} == --ci ]]; then
  mapfile -t files < <(git ls-files '*.cc' '*.h' '*.hpp' '*.c')
  base=$(tr -d '[:space:]' <.ci/lint-base)
  git cat-file -e "$base^{commit}" 2>/dev/null || { echo "lint.sh: .ci/lint-base names no commit: $base" >&2; exit 2; }
  mapfile -t changed < <(git diff --name-only --diff-filter=d "$base" -- '*.cc' '*.h' '*.hpp' '*.c' | sort -u)
  tidy_files=("${changed[@]}")
  for header in "${changed[@]}"; do
    [[ $header == *.h || $header == *.hpp ]] || continue
    # A unit that includes the header by its path below src/, include/, tests/ or tools/.
    suffix=${header#*/}
    mapfile -t -O "${#tidy_files[@]}" tidy_files < <(git grep -l -F "#include \"$suffix\"" -- '*.cc' || true)
  done
  mapfile -t tidy_files < <(printf '%s\n' "${tidy_files[@]}" | sed '/^$/d' | sort -u)
  echo "lint.sh: clang-format on every file; clang-tidy on ${#tidy_files[@]} files changed since $(git rev-parse --short "$base") (.ci/lint-base) or including a changed header"
elif [[ $# -gt 0 ]]; then
  for file in "$@"; do
    [[ -f $file ]] || { echo "lint.sh: no such file: $file" >&2; exit 2; }
    files+=("$file")
  done
else
  if base=$(git merge-base HEAD origin/main 2>/dev/null); then :; else base=$(git rev-parse HEAD~1); fi
  mapfile -t files < <({ git diff --name-only --diff-filter=d "$base"; git ls-files --others --exclude-standard; } |
                       sort -u)
  echo "lint.sh: files changed since $(git rev-parse --short "$base")"
fi
sources=()
for file in "${files[@]}"; do is_source "$file" && [[ -f $file ]] && sources+=("$file"); done
if [[ ${#sources[@]} -eq 0 ]]; then
  echo "lint.sh: no C/C++ files to check"
  exit 0
fi

findings=0
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if [[ ${LINT_TIDY:-1} != 0 ]]; then
  if [[ ! -f $build_dir/compile_commands.json ]]; then
    cmake -S . -B "$build_dir" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
  fi
  # The translation units: the .cc files the compile database knows.
  units=()
  [[ ${1:-} == --ci ]] && tidy_candidates=("${tidy_files[@]}") || tidy_candidates=("${sources[@]}")
  for file in "${tidy_candidates[@]}"; do
    [[ $file == *.cc || $file == *.c ]] || continue
    grep -q "\"file\": \"$PWD/$file\"" "$build_dir/compile_commands.json" && units+=("$file")
  done
  echo "== clang-tidy: ${#units[@]} translation units ($build_dir/compile_commands.json, $jobs jobs)"
  if [[ ${#units[@]} -gt 0 ]]; then
    printf '%s\n' "${units[@]}" |
      nice -n 10 xargs -P "$jobs" -I{} sh -c '"$1" -p "$2" --quiet --header-filter="$5" "$3" >"$4/$(echo "$3" | tr / _).tidy" 2>/dev/null || true' \
        _ "$clang_tidy" "$build_dir" {} "$out" "$header_filter"
    # One finding per "file:line:col: warning: ... [check]" line; a header
    # included by several units is reported once.
    cat "$out"/*.tidy | grep -E '^[^ ].*:[0-9]+:[0-9]+: (warning|error): .*\[[a-z0-9.,-]+\]$' | sort -u >"$out/tidy.txt" || true
    cat "$out/tidy.txt"
    tidy_count=$(wc -l <"$out/tidy.txt")
    findings=$((findings + tidy_count))
    echo "== clang-tidy findings per check ($tidy_count in all)"
    grep -oE '\[[a-z0-9.,-]+\]$' "$out/tidy.txt" | sort | uniq -c | sort -rn || true
  fi
fi

if [[ ${LINT_FORMAT:-1} != 0 ]]; then
  echo "== clang-format --dry-run: ${#sources[@]} files"
  unformatted=0
  for file in "${sources[@]}"; do
    lines=$("$clang_format" --dry-run "$file" 2>&1 | grep -c 'warning:' || true)
    if [[ $lines -gt 0 ]]; then
      echo "  $file: $lines places differ (clang-format-14 $file | diff $file -)"
      unformatted=$((unformatted + 1))
    fi
  done
  echo "== clang-format: $unformatted of ${#sources[@]} files differ from .clang-format"
  findings=$((findings + unformatted))
fi

if [[ $findings -gt 0 ]]; then
  echo "lint.sh: FAIL: $findings findings"
  exit 1
fi
echo "lint.sh: PASS"
