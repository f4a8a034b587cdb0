"""Test settings: headless Qt, TensorFlow on the CPU and quiet."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if os.environ.get("CI") or os.environ.get("FNTK_TEST_CPU", "1") == "1":
    os.environ["CUDA_VISIBLE_DEVICES"] = "-1"

# No sys.path changes here: the tests import the installed fntk (tests/test_packaging.py checks it).
