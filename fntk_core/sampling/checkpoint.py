"""Checkpoints of a sampling job: the block sums of networks [0, drawn) and the job they belong to.

Network e's draws depend only on the seed and e, so a job resumed at ``drawn`` with these
sums ends with the same estimates as an uninterrupted one, whatever the chunk size, the
number of devices or of workers.  Files are written atomically (fntk_core.files); no
TensorFlow here.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import FntkError
from ..files import atomic_write_text

FORMAT = "fntk-sample-checkpoint"
VERSION = 1


def job_key(session) -> dict:
    """What makes two runs the same job (everything the block sums depend on, not networks or chunk)."""
    return {"network": session.spec.to_dict(), "inputs": session.x.tolist(), "seed": session.seed,
            "dtype": session.dtype, "tensors": sorted(session.names), "rao_blackwell": session.rb,
            "compare_plain": session.compare, "control_variates": bool(session.cv_requested),
            "blocks": session.blocks}


def write(path, session) -> None:
    """Save the session's block sums and the network range [0, drawn) they cover."""
    state = session.acc.state()
    doc = {"format": FORMAT, "version": VERSION, "job": job_key(session),
           "networks_done": [0, state["drawn"]], "state": state}
    atomic_write_text(path, json.dumps(doc, default=str))


def read(path, session) -> dict | None:
    """The saved accumulator state for this job, None if there is no checkpoint yet.

    A checkpoint of another job, or an unreadable one, is a FntkError naming the file (never
    silently overwritten: it may be hours of sampling)."""
    p = Path(path)
    if not p.exists():
        return None
    try:
        doc = json.loads(p.read_text())
        if doc.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file")
        if int(doc.get("version", 0)) > VERSION:
            raise ValueError(f"version {doc['version']} is newer than this fntk ({VERSION})")
        saved, state = doc["job"], doc["state"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FntkError(f"checkpoint {p}: unreadable ({exc}); delete it to start afresh") from None
    mine = json.loads(json.dumps(job_key(session), default=str))
    diff = [k for k in mine if saved.get(k) != mine[k]]
    if diff:
        raise FntkError(f"checkpoint {p}: belongs to a different sampling job ({', '.join(diff)} {'differ' if len(diff) > 1 else 'differs'}); "
                        "give the same arguments, another --checkpoint file, or delete it to start afresh")
    if int(state["drawn"]) > session.networks:
        raise FntkError(f"checkpoint {p}: already holds {state['drawn']} networks, more than --networks "
                        f"{session.networks}")
    return state
