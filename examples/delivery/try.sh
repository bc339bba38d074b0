#!/bin/sh
# One command: ./examples/delivery/try.sh
# Copies this example into a fresh git repository (a temporary directory, or $1) and runs
# `slipway up` on it. In another terminal: edit src/app.py, commit, watch it deliver;
# approve production with the command `slipway up` prints.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dir=${1:-$(mktemp -d)/delivery}
cargo build -q -p slipway-cli --manifest-path "$root/Cargo.toml"
# The pre-traffic hook uses boto3, which Lambda provides. When the local python3.11 lacks it,
# a small virtual environment with it (made once, under target/) goes first on PATH: the
# runtime then runs python3.11 functions on that interpreter.
py=$(command -v python3.11 || command -v python3)
if ! "$py" -c 'import boto3' 2>/dev/null; then
  venv="$root/target/try-venv"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import boto3' 2>/dev/null; then
    echo "setting up $venv with boto3 (once)" >&2
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check boto3
  fi
  PATH="$venv/bin:$PATH"
  export PATH
fi
mkdir -p "$dir"
cp -R "$here/template.yaml" "$here/buildspec.yml" "$here/slipway.yaml" "$here/src" "$dir/"
rm -rf "$dir/src/__pycache__"
printf '.slipway/\n__pycache__/\n' > "$dir/.gitignore"
cd "$dir"
git init -q -b main
git add -A
git -c user.name=Slipway -c user.email=try@slipway.invalid commit -q -m "first commit"
echo "project: $dir"
echo "approve: $root/target/debug/slipway pipeline --project $dir approve --stage Approve"
exec "$root/target/debug/slipway" up
