#!/bin/sh
# Build the one-folder bundle packaging/dist/fntk/ and check that it starts:
#   pip install -e '.[packaging]'   (PyInstaller)
#   sh packaging/build.sh           (SKIP_CHECK=1 to skip the start-up check)
set -eu
export QT_QPA_PLATFORM=offscreen   # the build imports Qt modules; no display needed
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
python render_icons.py
# fntk's packages under their installed names (app/ is fntk_app, resources/ is fntk_resources),
# so that PyInstaller finds them whether fntk is installed editable or not
rm -rf build/src && mkdir -p build/src
cp -r ../fntk_core build/src/fntk_core && cp -r ../app build/src/fntk_app && cp -r ../resources build/src/fntk_resources
export PYTHONPATH="$here/build/src${PYTHONPATH:+:$PYTHONPATH}"
start=$(date +%s)
pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build fntk.spec
echo "built in $(( $(date +%s) - start )) s: $(du -sh dist/fntk | cut -f1) in $(find dist/fntk -type f | wc -l) files"
if [ "${SKIP_CHECK:-0}" != 1 ]; then
    start=$(date +%s)
    QT_QPA_PLATFORM=offscreen dist/fntk/fntk --screenshot dist/bundle-check.png --size 1200x800
    echo "the bundle started and rendered dist/bundle-check.png in $(( $(date +%s) - start )) s"
fi
