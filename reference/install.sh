#!/usr/bin/env bash
# Build the reference ("oracle") environment: fairchem-core 1.10.0 on top of the system torch.
#
# Usage: reference/install.sh                      # venv at $EQV2_REFENV, default <repo>/.refenv
#        EQV2_REFENV=/some/folder reference/install.sh
#
# torch is installed first at the version eqv2 is tested with ($TORCH, default torch==2.13.0, the
# CPU wheel where the machine provides one); every other package is installed with --no-deps so pip
# never pulls a CUDA torch. torch_scatter / torch_sparse are our pure-torch stand-ins from
# reference/standins/. Idempotent: re-running only fills what is missing.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REFENV="${EQV2_REFENV:-$REPO_ROOT/.refenv}"
SYSTEM_PYTHON="${EQV2_SYSTEM_PYTHON:-python3}"
TORCH="${TORCH:-torch==2.13.0}"

# Only what `import fairchem.core` + OCPCalculator's eager `setup_imports()` need, pinned.
# scipy < 1.17 keeps `scipy.special.sph_harm`, which fairchem's model utils import.
PACKAGES=(
  fairchem-core==1.10.0
  e3nn==0.6.0 opt_einsum==3.4.0 opt-einsum-fx==0.1.4
  torch-geometric==2.8.1 xxhash==4.1.0 psutil==7.2.2 tqdm==4.70.1
  huggingface-hub==0.27.1
  wandb==0.19.11 docker-pycreds==0.4.0 sentry-sdk==2.75.0 platformdirs==4.14.8
  tensorboard==2.21.0 absl-py==2.5.1 protobuf==6.33.6
  numba==0.68.1 llvmlite==0.50.0
  submitit==1.5.4
  scipy==1.15.3
  requests==2.34.2 urllib3==2.8.0 idna==3.20 certifi==2026.10.19.post1
  pydantic==2.14.4 pydantic_core==2.50.5 typing-inspection==0.4.5 annotated-types==0.8.0
  click==8.5.1 cloudpickle==3.1.3
  # eqv2's own runtime dependencies (the benchmarks' reference process imports eqv2 too)
  numpy==2.4.6 ase==3.29.0 PyYAML==6.0.4 lmdb==3.0.0 vesin==0.6.2
  matplotlib==3.11.2 contourpy==1.3.3 cycler==0.12.1 fonttools==4.68.0 kiwisolver==1.5.1
  packaging==26.4 pillow==13.0.0 pyparsing==3.3.3 python-dateutil==2.9.0.post0 six==1.17.0
)

torch_location() {
  "$REFENV/bin/python" -c "import torch; print(torch.__version__, torch.__file__)"
}

create_venv() {
  if [ ! -x "$REFENV/bin/python" ]; then
    "$SYSTEM_PYTHON" -m venv "$REFENV"
  fi
  if ! "$REFENV/bin/python" -c "import torch" 2>/dev/null; then
    "$REFENV/bin/python" -m pip install --quiet --disable-pip-version-check "$TORCH"
  fi
}

install_packages() {
  "$REFENV/bin/python" -m pip install --quiet --no-deps --disable-pip-version-check "${PACKAGES[@]}"
}

install_standins() {
  local site
  site="$("$REFENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")"
  for name in torch_scatter torch_sparse; do
    rm -rf "${site:?}/$name"
    cp -r "$REPO_ROOT/reference/standins/$name" "$site/$name"
  done
}

check_torch_untouched() {
  local before="$1" after
  after="$(torch_location)"
  if [ "$before" != "$after" ]; then
    echo "torch changed: '$before' -> '$after'" >&2
    exit 1
  fi
  if "$REFENV/bin/python" -m pip list --path "$("$REFENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")" 2>/dev/null \
      | grep -iE '^nvidia-' ; then
    echo "a CUDA wheel was installed into $REFENV" >&2
    exit 1
  fi
}

check_imports() {
  (cd / && "$REFENV/bin/python" -W ignore -c "
import logging; logging.disable(logging.WARNING)
from fairchem.core.common.relaxation.ase_utils import OCPCalculator
import fairchem.core.models.equiformer_v2
from fairchem.core.common.utils import setup_imports
setup_imports()
import fairchem.core, torch
print('reference env ready:', fairchem.core.__version__, 'torch', torch.__version__)
")
}

main() {
  create_venv
  local torch_before
  torch_before="$(torch_location)"
  install_packages
  install_standins
  check_torch_untouched "$torch_before"
  check_imports
  echo "python: $REFENV/bin/python"
}

main "$@"
