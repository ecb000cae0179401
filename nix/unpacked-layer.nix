# A layer's artifacts as a folder, for member steps to link to (`deps-layer member-step
# --link-from`): crane stores a layer as zstd archives, each on the one before it (`.prev`), which
# every step would otherwise decompress whole. Built once per layer, shared by every chain on it.
{
  runCommand,
  zstd,
  layer,
}:
runCommand "${layer.name}-unpacked" {
  strictDeps = true;
  nativeBuildInputs = [zstd];
} ''
  archives=()
  archive=${layer}/target.tar.zst
  while [ -n "$archive" ]; do
    archives=("$archive" "''${archives[@]}")
    if [ -e "$archive.prev" ]; then
      archive=$(realpath "$archive.prev")
    else
      archive=
    fi
  done
  mkdir -p "$out/target"
  for archive in "''${archives[@]}"; do
    zstd -d "$archive" --stdout | tar -x -C "$out/target"
  done
''
