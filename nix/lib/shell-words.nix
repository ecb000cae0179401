# Shell quoting for the values only Nix knows (a deny configuration's path, the tool's check
# command); what the plan holds, deps-layer quotes. As nixpkgs' lib.escapeShellArg does since
# 24.11 (quotes only where needed), whatever nixpkgs the caller has, so derivations do not change
# with it.
rec {
  escapeShellArg = arg:
    if builtins.match "[[:alnum:],._+:@%/-]+" arg != null
    then arg
    else "'${builtins.replaceStrings ["'"] ["'\\''"] arg}'";
  escapeShellArgs = args: builtins.concatStringsSep " " (map escapeShellArg args);
}
