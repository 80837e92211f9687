#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# series.sh must turn the repo into the right commits and mails, and back:
# run it on a small made-up base and series.  Runs on the host in seconds,
# before the VMs boot.
set -uo pipefail
here=$(dirname "$(realpath "$0")")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t

n=0 bad=0
check() {	# check NAME COMMAND...
	local name=$1
	shift
	n=$((n + 1))
	if "$@" > "$tmp/out" 2>&1; then
		echo "ok $n series: $name"
	else
		echo "not ok $n series: $name"
		sed 's/^/# /' "$tmp/out"
		bad=$((bad + 1))
	fi
}

# The base: one upstream file.
src=$tmp/src
mkdir -p "$src/mm"
seq 1 20 > "$src/mm/old.c"
git -C "$src" init -q && git -C "$src" add -A && git -C "$src" commit -q -m base &&
	git -C "$src" tag gmem-base

# The repo: p1 changes mm/old.c and adds mm/new.c, p2 changes both; the
# repo holds mm/new.c as p2 leaves it.
repo=$tmp/repo
mkdir -p "$repo/patches" "$repo/mm"
printf '%s\n' p1.patch '	mm/new.c' p2.patch > "$repo/patches/series"
printf 'cover subject\n\ncover text\n' > "$repo/patches/cover-letter"
printf '%s\n' a b c d e f g > "$repo/mm/new.c.p1"
sed 's/^c$/C/' "$repo/mm/new.c.p1" > "$repo/mm/new.c"
seq 1 20 | sed 's/^2$/two/' > "$tmp/old.p1"
sed 's/^19$/nineteen/' "$tmp/old.p1" > "$tmp/old.p2"
hdr() {	# hdr SUBJECT
	printf 'From: A U Thor <a@u.thor>\nSubject: [PATCH] %s\n\n%s, because.\n\nSigned-off-by: A U Thor <a@u.thor>\n---\n' "$1" "$1"
}
{ hdr "mm: Add new"; diff -u --label a/mm/old.c --label b/mm/old.c "$src/mm/old.c" "$tmp/old.p1"; } \
	> "$repo/patches/p1.patch"
{ hdr "mm: Change both"
  diff -u --label a/mm/new.c --label b/mm/new.c "$repo/mm/new.c.p1" "$repo/mm/new.c"
  diff -u --label a/mm/old.c --label b/mm/old.c "$tmp/old.p1" "$tmp/old.p2"; } \
	> "$repo/patches/p2.patch"
rm "$repo/mm/new.c.p1"
printf '%s\n' a b c d e f g > "$tmp/new.p1"
git -C "$repo" init -q && git -C "$repo" add -A && git -C "$repo" commit -q -m repo

check "commits are made" "$here/series.sh" commits "$repo" "$src"
check "two commits on the base" test "$(git -C "$src" rev-list --count gmem-base..gmem-series)" = 2
check "the first adds the new file as the second's changes, taken back, leave it" \
	cmp <(git -C "$src" show gmem-series~1:mm/new.c) "$tmp/new.p1"
check "the second ends with the repo's version" \
	cmp <(git -C "$src" show gmem-series:mm/new.c) "$repo/mm/new.c"
check "upstream file after each" eval \
	'cmp <(git -C "$src" show gmem-series~1:mm/old.c) "$tmp/old.p1" &&
	 cmp <(git -C "$src" show gmem-series:mm/old.c) "$tmp/old.p2"'
check "subject, author and changelog" eval \
	'test "$(git -C "$src" log -1 --format="%s|%an|%ae" gmem-series~1)" = "mm: Add new|A U Thor|a@u.thor" &&
	 git -C "$src" log -1 --format=%b gmem-series~1 | grep -qx "Signed-off-by: A U Thor <a@u.thor>"'
check "the work tree is not touched" test -z "$(git -C "$src" status --porcelain)"

check "mails are written" "$here/series.sh" mails "$repo" "$src" "$tmp/mails"
check "a cover letter and two numbered mails" eval \
	'ls "$tmp/mails" | paste -sd" " | grep -qx "0000-cover-letter.patch 0001-mm-Add-new.patch 0002-mm-Change-both.patch" &&
	 grep -q "^Subject: \[PATCH 1/2\] mm: Add new$" "$tmp/mails/0001-mm-Add-new.patch" &&
	 grep -q "^Subject: \[PATCH 0/2\] cover subject$" "$tmp/mails/0000-cover-letter.patch" &&
	 grep -qx "cover text" "$tmp/mails/0000-cover-letter.patch" &&
	 grep -q "^new file mode" "$tmp/mails/0001-mm-Add-new.patch"'
git clone -q "$src" "$tmp/am" && git -C "$tmp/am" checkout -q --detach gmem-base
check "the mails apply with git am and give the series' tree" eval \
	'git -C "$tmp/am" am -q "$tmp"/mails/000[12]-*.patch &&
	 test "$(git -C "$tmp/am" rev-parse HEAD^{tree})" = "$(git -C "$src" rev-parse gmem-series^{tree})"'

# Export: what the commits hold goes back to the repo unchanged.  The tree
# is checked out as prepare-source.sh does it.
prepare() {
	git -C "$src" checkout -q --detach gmem-series && git -C "$src" update-ref refs/gmem/applied HEAD
}
prepare
check "export of the generated commits" "$here/series.sh" export "$repo" "$src"
check "export gives the same new file and series" eval \
	'cmp <(git -C "$repo" show HEAD:mm/new.c) "$repo/mm/new.c" &&
	 cmp <(git -C "$repo" show HEAD:patches/series) "$repo/patches/series"'
git -C "$repo" add -A && git -C "$repo" commit -q -m exported
check "commits again from the exported repo: the same trees" eval \
	'old=$(git -C "$src" rev-parse gmem-series^{tree}) &&
	 "$here/series.sh" commits "$repo" "$src" &&
	 test "$(git -C "$src" rev-parse gmem-series^{tree})" = "$old"'
check "a second export changes nothing" eval \
	'prepare && "$here/series.sh" export "$repo" "$src" &&
	 test -z "$(git -C "$repo" status --porcelain)"'

# An edit in the repo that the tree does not have would be undone: refused.
echo i >> "$repo/mm/new.c"
check "export refuses to undo an edit made in the repo" eval \
	'! out=$("$here/series.sh" export "$repo" "$src" 2>&1) && [[ $out == *"the repo has changed"* ]] &&
	 tail -n 1 "$repo/mm/new.c" | grep -qx i'
git -C "$repo" checkout -q -- mm/new.c
"$here/series.sh" commits "$repo" "$src"

# Export of a commit made in the tree: a new patch with a new file.
echo h >> "$src/mm/new.c"
mkdir -p "$src/virt" && echo x > "$src/virt/third.c"
git -C "$src" add -A && git -C "$src" commit -q -m "virt: Add a third file" \
	-m "Why it is needed." -m "Signed-off-by: t <t@t>"
check "export of a new commit" "$here/series.sh" export "$repo" "$src"
check "it becomes a patch that adds its file, and changes the other" eval \
	'cmp <(tail -n 2 "$repo/patches/series") <(printf "virt-add-a-third-file.patch\n\tvirt/third.c\n") &&
	 grep -q "^+h$" "$repo/patches/virt-add-a-third-file.patch" &&
	 ! grep -q "third.c" "$repo/patches/virt-add-a-third-file.patch" &&
	 cmp "$repo/virt/third.c" "$src/virt/third.c" && tail -n 1 "$repo/mm/new.c" | grep -qx h'

# Refusals.
printf 'p1.patch\np2.patch\n' > "$repo/patches/series"
check "a new file in no patch is refused" eval \
	'! out=$("$here/series.sh" commits "$repo" "$src" 2>&1) && [[ $out == *"mm/new.c is in no patch"* ]]'

echo "# series self-check: $((n - bad)) passed, $bad failed"
[ $bad -eq 0 ]
