"""The partner's (China's) receiving back office in a process of its own, for the exchange tests.

``python -m tests.bilateral.partner_server CONFIG.json``; the config names the inbox database, the agreement
file, the partner's list key (PEM), this side's ledger key (PEM), the TLS files and the port. With
``exit_after_commits: N`` the process dies (``os._exit``) right after committing its N-th new message, before
the answer is sent: the sender never sees that 2xx (a lost answer).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from backoffice._partner_link import serve_partner_link
from bilateral import Inbox, load_agreement


def main(config_path: str) -> None:
    cfg = json.loads(Path(config_path).read_text())
    list_key = serialization.load_pem_public_key(Path(cfg["list_key"]).read_bytes())
    ledger_key = serialization.load_pem_private_key(Path(cfg["ledger_key"]).read_bytes(), password=None)
    inbox = Inbox(cfg["db"], agreement=load_agreement(cfg["agreement"]), list_keys=[list_key],
                  ledger_key=ledger_key)
    limit = cfg.get("exit_after_commits")
    if limit:
        received = 0
        receive = inbox.receive

        def dying_receive(*args, **kwargs):
            nonlocal received
            receipt = receive(*args, **kwargs)
            if receipt.outcome == "received":
                received += 1
                if received >= limit:
                    os._exit(3)  # committed, never answered
            return receipt

        inbox.receive = dying_receive
    serve_partner_link(inbox, host="127.0.0.1", port=cfg["port"], certfile=cfg["cert"], keyfile=cfg["key"],
                       partner_ca=cfg["partner_ca"])


if __name__ == "__main__":
    main(sys.argv[1])
