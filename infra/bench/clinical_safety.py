#!/usr/bin/env python3
"""Clinical-safety benchmark helper (see alerts.sh): provisions patients and hubs, then scores the
alerts the platform raised against the simulator's ground truth.

  provision RECORDS REGISTRY TOKEN PREFIX COUNT          -> patient ids (one per device) on stdout
  watch ALERTS TOKEN OUT.jsonl                           -> every alert event of the live SSE stream,
                                                            with the time it arrived (until killed)
  score ALERTS TOKEN GROUND_TRUTH MAPPING SIM_SECONDS DEVICES [WATCHED.jsonl]

Latency is taken where a clinician sees it: from the platform receiving the reading (the broker's
stamp, `reading_received_at`) to the alert's event arriving on the SSE stream (`watch`), and split
at the alert's `created_at` (the start of the consumer's transaction that opened it): before it,
the bus and the wait for a batch; after it, applying the batch, the commit, NOTIFY and the stream.
"""
import json
import os
import ssl
import sys
import urllib.request

# A deployment behind TLS with its own CA (infra/cluster's gateway): EPISANTE_CA_FILE=PEM.
SSL = ssl.create_default_context(cafile=os.environ["EPISANTE_CA_FILE"]) if os.environ.get("EPISANTE_CA_FILE") else None

RULE_OF = {
    "tachycardia": "heart_rate.high",
    "bradycardia": "heart_rate.low",
    "hypoxia": "spo2.low",
    "fever": "temperature.high",
    "hypotension": "systolic_bp.low",
    "flatline": "heart_rate.flatline",
    "dropout": "device.dropout",
    "offline": "device.dropout",
}


def call(method, url, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30, context=SSL) as r:
            text = r.read()
            return json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        if e.code == 409:
            return None
        raise RuntimeError(f"{method} {url}: {e.code} {e.read()[:300]}")


def provision(records, registry, token, prefix, count):
    mapping = {}
    for i in range(count):
        device = f"{prefix}{i}"
        p = call("POST", f"{records}/v1/patients", token, {
            "given_names": ["Sim"], "family_name": f"Patient{i}", "birth_date": "1950-01-01",
            "sex": "unknown", "national_id": f"{prefix.upper()}{i:06d}",
        })
        call("POST", f"{registry}/v1/devices", token, {"device_id": device, "label": "clinical-safety"})
        call("POST", f"{records}/v1/patients/{p['id']}/devices", token, {"device_id": device})
        mapping[device] = p["id"]
    json.dump(mapping, sys.stdout)


def iso_ms(s):
    from datetime import datetime
    return int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def watch(alerts_base, token, out_path):
    """Appends `{"alert_id", "kind", "arrived_ms"}` per live alert event until killed."""
    import time
    req = urllib.request.Request(f"{alerts_base}/v1/alerts/stream")
    req.add_header("authorization", f"Bearer {token}")
    req.add_header("accept", "text/event-stream")
    with urllib.request.urlopen(req, timeout=3600, context=SSL) as r, open(out_path, "a", buffering=1) as out:
        for raw in r:
            line = raw.decode().rstrip("\n")
            if line.startswith("data:"):
                arrived = time.time() * 1000
                try:
                    event = json.loads(line[5:])
                except ValueError:
                    continue
                out.write(json.dumps({"alert_id": event.get("alert_id"), "kind": event.get("kind"),
                                      "arrived_ms": arrived}) + "\n")
    # Killed at the end of a phase; ending on its own means the stream closed (an expired token).
    print("watch: the alert stream ended", file=sys.stderr)
    sys.exit(1)


def fetch_alerts(alerts_base, token):
    alerts, offset = [], 0
    while True:
        page = call("GET", f"{alerts_base}/v1/alerts?state=all&limit=1000&offset={offset}", token)["alerts"]
        alerts += page
        if len(page) < 1000:
            return alerts
        offset += 1000


def score(alerts_base, token, truth_path, mapping_path, sim_seconds, devices, watched_path=None):
    report = evaluate(fetch_alerts(alerts_base, token), truth_path, mapping_path, sim_seconds, devices,
                      watched_path)
    print(json.dumps(report, indent=2))


def evaluate(alerts, truth_path, mapping_path, sim_seconds, devices, watched_path=None):
    """Recall, duplicates and false alerts of `alerts` against the ground truth."""
    mapping = json.load(open(mapping_path))
    patient_device = {p: d for d, p in mapping.items()}
    windows = [json.loads(line) for line in open(truth_path) if line.strip()]
    alerts = [a for a in alerts if a["patient_id"] in patient_device]
    matched = set()
    recall = {}
    duplicates = 0
    for w in windows:
        rule = RULE_OF[w["kind"]]
        # Found while the anomaly lasts, or (silences) when the readings come back.
        hits = [a for a in alerts
                if patient_device[a["patient_id"]] == w["device"] and a["rule_key"] == rule
                and w["start_ms"] <= iso_ms(a["triggered_at"]) <= w["end_ms"] + 300_000]
        stats = recall.setdefault(w["kind"], [0, 0])
        stats[1] += 1
        if hits:
            stats[0] += 1
            # One episode, one alert: more than one alert of the rule in the window is a duplicate.
            duplicates += len(hits) - 1
            matched.update(a["id"] for a in hits)
    false_alerts = [a for a in alerts if a["id"] not in matched]
    patient_days = devices * sim_seconds / 86400.0
    latencies = [iso_ms(a["created_at"]) - iso_ms(a["reading_received_at"]) for a in alerts
                 if a.get("reading_received_at")]
    report = {
        "windows": len(windows),
        "recall": {k: f"{h}/{n}" for k, (h, n) in sorted(recall.items())},
        "recall_total": sum(h for h, _ in recall.values()) / max(1, sum(n for _, n in recall.values())),
        "alerts": len(alerts),
        "duplicate_alerts": duplicates,
        "false_alerts": len(false_alerts),
        "false_alert_rules": sorted({a["rule_key"] for a in false_alerts}),
        "patient_days": round(patient_days, 2),
        "false_alerts_per_patient_day": round(len(false_alerts) / patient_days, 3) if patient_days else None,
        "latency_ms_p50": percentile(latencies, 0.5),
        "latency_ms_p99": percentile(latencies, 0.99),
        "latency_samples": len(latencies),
    }
    if watched_path:
        # The first event of each alert on the live stream: when a clinician would see it.
        seen = {}
        for line in open(watched_path):
            if line.strip():
                e = json.loads(line)
                seen.setdefault(e["alert_id"], e["arrived_ms"])
        stages = [(iso_ms(a["reading_received_at"]), iso_ms(a["created_at"]), seen[a["id"]])
                  for a in alerts if a.get("reading_received_at") and a["id"] in seen]
        to_sse = [s - r for r, _, s in stages]
        to_tx = [c - r for r, c, _ in stages]
        tx_to_sse = [s - c for _, c, s in stages]
        report.update({
            "sse_latency_ms_p50": percentile(to_sse, 0.5),
            "sse_latency_ms_p99": percentile(to_sse, 0.99),
            "sse_latency_ms_max": max(to_sse) if to_sse else None,
            "sse_samples": len(to_sse),
            "sse_missing": sum(1 for a in alerts if a.get("reading_received_at") and a["id"] not in seen),
            # Where the time goes: received → transaction start (bus, batch wait), then
            # transaction start → on the stream (apply, commit, NOTIFY, SSE).
            "stage_received_to_tx_ms_p50": percentile(to_tx, 0.5),
            "stage_received_to_tx_ms_p99": percentile(to_tx, 0.99),
            "stage_tx_to_sse_ms_p50": percentile(tx_to_sse, 0.5),
            "stage_tx_to_sse_ms_p99": percentile(tx_to_sse, 0.99),
        })
    return report


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "provision":
        provision(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]))
    elif cmd == "watch":
        watch(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "score":
        score(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6]), int(sys.argv[7]),
              sys.argv[8] if len(sys.argv) > 8 else None)
    else:
        sys.exit(__doc__)
