#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The series as git commits and as mails.  The repo keeps it in two parts,
# each content once:
#
#   - patches/: one file per patch, its changelog (From:, Subject: [PATCH]
#     ..., why, Signed-off-by:, ---) and its changes to files that the base
#     has or that an earlier patch added;
#   - the files the series adds, at their kernel paths, as the last patch
#     leaves them.
#
# patches/series lists the patches in order, each followed by the new files
# it adds, one per line, indented.  A new file enters whole in the patch
# that adds it, as the later patches' changes to it, taken back one by one
# from its final version, leave it.
#
# SRC is a git tree whose tag gmem-base is the pristine kernel source.
#
# usage:
#   series.sh commits REPO SRC     the series as commits on gmem-base, in
#                                  refs/heads/gmem-series (SRC's work tree
#                                  and index are not touched)
#   series.sh mails REPO SRC DIR   those commits as mails in DIR (git
#                                  format-patch), after the cover letter
#                                  that patches/cover-letter gives
#   series.sh export REPO SRC      SRC's commits gmem-base..HEAD written
#                                  back to REPO (patches/ and new files)
set -euo pipefail

cmd=$1
repo=$(realpath "$2")
src=$(realpath "$3")
base=gmem-base
branch=refs/heads/gmem-series
author_re='^From: (.*) <(.*)>$'

die() { echo "series: $*" >&2; exit 1; }
g() { git -C "$src" "$@"; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The patches in order, and the new files of each: names[i], adds[i].
# In patches/series a patch's new files follow it, one per line, indented.
read_series() {
	names=() adds=()
	local line
	while IFS= read -r line; do
		line=${line%%#*}
		[ -n "${line//[[:space:]]/}" ] || continue
		if [[ $line =~ ^[[:space:]]+([^[:space:]]+)[[:space:]]*$ ]]; then
			[ ${#names[@]} -gt 0 ] || die "patches/series: $line follows no patch"
			adds[${#names[@]} - 1]+=" ${BASH_REMATCH[1]}"
			continue
		fi
		line=${line%%[[:space:]]*}
		[ -f "$repo/patches/$line" ] || die "patches/series names $line, which is not in patches/"
		names+=("$line")
		adds+=("")
	done < "$repo/patches/series"
}

# The diff of patch @1 (everything from its first file header on).
diff_of() {
	awk 'f || /^(diff --git |--- (a\/|\/dev\/null))/ { f = 1; print }' "$repo/patches/$1"
}

# Whether diff file @1 changes path @2.
touches() {
	grep -qxF -e "+++ b/$2" -e "--- a/$2" "$1"
}

# The content of new file @1 as patch @2 (an index into names) adds it,
# into file @3: the final version, with the changes of every later patch
# to it taken back, last first.
first_version() {
	local f=$1 i=$2 out=$3 j d
	d=$tmp/rev
	rm -rf "$d"
	mkdir -p "$d/$(dirname "$f")"
	cp "$repo/$f" "$d/$f"
	for ((j = ${#names[@]} - 1; j > i; j--)); do
		touches "$tmp/diff.$j" "$f" || continue
		(cd "$d" && env -u GIT_INDEX_FILE git apply -R --include="$f" "$tmp/diff.$j") ||
			die "${names[j]}'s changes to $f do not come off its final version"
	done
	cp "$d/$f" "$out"
}

# The commit message of patch @1: its subject without [PATCH], a blank
# line, and its changelog up to the --- line.
message_of() {
	awk '
	!hdr && /^Subject: / { sub(/^Subject: (\[PATCH[^]]*\] )?/, ""); print; print ""; next }
	!hdr && /^$/ { hdr = 1; next }
	!hdr { next }
	/^---$/ { exit }
	{ print }
	' "$repo/patches/$1"
}

make_commits() {
	read_series
	local i f parent tree commit from name email date stamp n=${#names[@]}
	g rev-parse -q --verify "$base^{commit}" > /dev/null ||
		die "$src has no tag $base (prepare-source.sh makes it)"

	# Nothing to do when the base and what the repo holds of the series
	# are what the branch was made from.
	stamp=$( { g rev-parse "$base"; cd "$repo" &&
		   sha1sum patches/series "${names[@]/#/patches/}" $(new_files); } | sha1sum)
	if g rev-parse -q --verify "$branch" > /dev/null &&
	   [ "$(cat "$src/.git/gmem-series-stamp" 2>/dev/null)" = "$stamp" ]; then
		return
	fi

	# Every new file of the repo is added by exactly one patch, and is new.
	declare -A added_by=()
	for ((i = 0; i < n; i++)); do
		diff_of "${names[i]}" > "$tmp/diff.$i"
		for f in ${adds[i]}; do
			[ -z "${added_by[$f]:-}" ] || die "$f is added by ${added_by[$f]} and by ${names[i]}"
			[ -f "$repo/$f" ] || die "${names[i]} adds $f, which the repo does not have"
			! touches "$tmp/diff.$i" "$f" ||
				die "${names[i]} adds $f and has changes to it too"
			! g cat-file -e "$base:$f" 2>/dev/null ||
				die "${names[i]} adds $f, which the base has: change it in a patch"
			added_by[$f]=${names[i]}
		done
	done
	for f in $(new_files); do
		[ -n "${added_by[$f]:-}" ] ||
			die "$f is in no patch: name it after the patch that adds it in patches/series"
	done

	export GIT_INDEX_FILE=$tmp/index
	g read-tree "$base"
	parent=$(g rev-parse "$base^{commit}")
	for ((i = 0; i < n; i++)); do
		if [ -s "$tmp/diff.$i" ]; then
			g apply --cached "$tmp/diff.$i" 2> "$tmp/err" ||
				{ cat "$tmp/err" >&2; die "${names[i]} does not apply"; }
		fi
		for f in ${adds[i]}; do
			first_version "$f" "$i" "$tmp/new"
			blob=$(g hash-object -w --path="$f" "$tmp/new")
			g update-index --add --cacheinfo "100644,$blob,$f"
		done
		tree=$(g write-tree)
		from=$(sed -n 's/^From: //p;/^$/q' "$repo/patches/${names[i]}" | head -n 1)
		[[ "From: $from" =~ $author_re ]] || die "${names[i]} has no From: line"
		name=${BASH_REMATCH[1]} email=${BASH_REMATCH[2]}
		# The date the repo last changed the patch: the same commits
		# (and mails) from the same repo, on any machine.
		date=$(git -C "$repo" log -1 --format=%ad --date=raw -- "patches/${names[i]}" 2>/dev/null || true)
		[ -n "$date" ] || date=$(git -C "$repo" log -1 --format=%ad --date=raw 2>/dev/null || true)
		[ -n "$date" ] || date="$(date +%s) +0000"
		message_of "${names[i]}" > "$tmp/msg"
		commit=$(GIT_AUTHOR_NAME=$name GIT_AUTHOR_EMAIL=$email GIT_AUTHOR_DATE=$date \
			 GIT_COMMITTER_NAME=$name GIT_COMMITTER_EMAIL=$email GIT_COMMITTER_DATE=$date \
			 g commit-tree "$tree" -p "$parent" -F "$tmp/msg")
		parent=$commit
	done
	unset GIT_INDEX_FILE

	# The later patches' changes, put back on each first version, must
	# give the repo's file.
	for f in $(new_files); do
		[ "$(g rev-parse "$parent:$f")" = "$(g hash-object --path="$f" "$repo/$f")" ] ||
			die "$f: the series does not end with the repo's version"
	done
	g update-ref "$branch" "$parent"
	echo "$stamp" > "$src/.git/gmem-series-stamp"
}

# The repo's new kernel files: every file under the directories that hold them.
new_files() {
	(cd "$repo" && for d in arch include mm virt tools/testing/selftests Documentation; do
		if [ -d "$d" ]; then find "$d" -type f ! -name '*.orig' ! -name '*.rej'; fi
	done | sort)
}

# The mails: git format-patch of the commits, numbered, after a cover
# letter whose subject and text are patches/cover-letter's first line and
# the rest.
make_mails() {
	local out=$1 subject
	g rev-parse -q --verify "$branch" > /dev/null || die "no $branch: run 'series.sh commits' first"
	rm -rf "$out"
	mkdir -p "$out"
	subject=$(head -n 1 "$repo/patches/cover-letter")
	tail -n +3 "$repo/patches/cover-letter" > "$tmp/blurb"
	g -c core.abbrev=12 format-patch -q --cover-letter --no-signature --base="$base" \
		-o "$out" "$base..$branch"
	awk -v subject="$subject" -v blurb="$tmp/blurb" '
	/\*\*\* SUBJECT HERE \*\*\*/ { sub(/\*\*\* SUBJECT HERE \*\*\*/, subject) }
	/^\*\*\* BLURB HERE \*\*\*$/ { while ((getline l < blurb) > 0) print l; next }
	{ print }
	' "$out/0000-cover-letter.patch" > "$tmp/cover"
	mv "$tmp/cover" "$out/0000-cover-letter.patch"
}

# A file name for a patch: the one the repo has for its subject, or one
# made of the subject as git format-patch makes it, in lower case.
patch_name() {
	local subject=$1 f
	for f in "$repo"/patches/*.patch; do
		[ "$(sed -n 's/^Subject: \(\[PATCH[^]]*\] \)\{0,1\}//p' "$f" | head -n 1)" = "$subject" ] &&
			{ basename "$f"; return; }
	done
	echo "$subject" | tr 'A-Z' 'a-z' | sed 's/[^a-z0-9_.]\{1,\}/-/g; s/^-//; s/-$//; s/\.\{2,\}/./g' |
		cut -c1-64 | sed 's/-$//; s/$/.patch/'
}

# SRC's commits on gmem-base written back: one patch per commit (its
# message, and its changes but to the new files it adds), the new files
# as HEAD has them, and patches/series.
export_series() {
	local c subject name f added
	g rev-parse -q --verify "$base^{commit}" > /dev/null || die "$src has no tag $base"
	[ -z "$(g status --porcelain --untracked-files=no)" ] ||
		die "$src has changes that are in no commit: commit them first"
	# Edits made in the repo since build/linux was made would be lost.
	make_commits
	[ -n "${GMEM_EXPORT_FORCE:-}" ] ||
	[ "$(g rev-parse "$branch^{tree}")" = "$(g rev-parse "refs/gmem/applied^{tree}")" ] ||
		die "the repo has changed since $src was made from it, and export would undo that: make the same changes in $src's commits, then export with GMEM_EXPORT_FORCE=1"
	mkdir -p "$tmp/patches"
	: > "$tmp/series"
	for c in $(g rev-list --reverse "$base..HEAD"); do
		subject=$(g log -1 --format=%s "$c")
		name=$(patch_name "$subject")
		[ ! -e "$tmp/patches/$name" ] || die "two commits would be $name"
		added=$(g diff-tree -r --no-commit-id --name-only --diff-filter=A --no-renames "$c^" "$c")
		{ echo "$name"; for f in $added; do printf '\t%s\n' "$f"; done; } >> "$tmp/series"
		{
			g log -1 --format='From: %an <%ae>%nSubject: [PATCH] %s%n' "$c"
			g log -1 --format=%b "$c" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
			echo "---"
			# Plain changes as quilt writes them: no diff --git or
			# index lines, which would change with every earlier patch.
			g diff-tree -p --no-renames --no-color --no-commit-id "$c^" "$c" -- . \
				$(for f in $added; do printf ":(exclude)%s " "$f"; done) |
			awk '
			/^diff --git / { hold = $0; held = 1; next }
			held && /^index [0-9a-f]+\.\.[0-9a-f]+ [0-7]+$/ { idx = $0; held = 2; next }
			held && /^--- / { held = 0; print; next }
			held { print hold; if (held == 2) print idx; held = 0 }
			{ print }
			'
		} > "$tmp/patches/$name"
	done
	# Write back: patches, series, new files (and drop the ones HEAD lost).
	for f in "$repo"/patches/*.patch; do
		[ -e "$tmp/patches/$(basename "$f")" ] || rm -f "$f"
	done
	cp "$tmp"/patches/*.patch "$repo/patches/"
	{ sed -n '/^#/p' "$repo/patches/series"; cat "$tmp/series"; } > "$tmp/series.new"
	mv "$tmp/series.new" "$repo/patches/series"
	for f in $(new_files); do
		g cat-file -e "HEAD:$f" 2>/dev/null || rm -f "$repo/$f"
	done
	for f in $(g diff --name-only --diff-filter=A --no-renames "$base" HEAD); do
		mkdir -p "$(dirname "$repo/$f")"
		g show "HEAD:$f" > "$repo/$f"
	done
	# What the tree has checked out is now what the repo holds.
	g update-ref refs/gmem/applied HEAD
}

case $cmd in
commits)
	make_commits
	;;
mails)
	make_mails "$4"
	;;
export)
	export_series
	;;
*)
	die "unknown command $cmd"
	;;
esac
