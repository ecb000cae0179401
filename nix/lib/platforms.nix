# The systems a variant may name, and which of them build images (Linux).
rec {
  linux = ["x86_64-linux" "aarch64-linux"];
  all = linux ++ ["x86_64-darwin" "aarch64-darwin"];
  isLinux = system: builtins.elem system linux;
}
