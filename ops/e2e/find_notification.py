#!/usr/bin/env python3
"""Looks for a Discord notification in the webhook receiver's file (ops/e2e/alerts.sh).

    find_notification.py FILE ALERTNAME STATUS TEXT [AFTER_EPOCH]

Alertmanager 0.25's discord notifier posts {"content": "", "embeds": [{"title", "description",
"color"}]} where title and description are the receiver's `title` / `message` templates
(alertmanager.yml.tmpl): title "[PAGE][FIRING:1] AlertName (service)" or
"[PAGE][RESOLVED] AlertName (service)"; the message starts "RESOLVED: " for resolved alerts.
STATUS is firing or resolved. TEXT must appear in the embed's title or description (for example
the instance). Only notifications received after AFTER_EPOCH count. Exit 0 and print the
receive time if found, exit 1 otherwise.
"""
import json
import sys

path, alertname, status, text = sys.argv[1:5]
after = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
token = {"firing": "[FIRING", "resolved": "[RESOLVED]"}[status]

try:
    lines = open(path, encoding="utf-8").read().splitlines()
except FileNotFoundError:
    sys.exit(1)
for line in lines:
    try:
        rec = json.loads(line)
    except ValueError:
        continue
    if rec.get("received_at", 0) < after:
        continue
    for embed in (rec.get("body") or {}).get("embeds") or []:
        title = embed.get("title", "")
        blob = title + "\n" + embed.get("description", "")
        if alertname in title and token in title and text in blob:
            if status == "resolved" and "RESOLVED: " not in embed.get("description", ""):
                continue
            print(rec["received_at"])
            sys.exit(0)
sys.exit(1)
