#!/usr/bin/env python3
"""The cluster's chaos scenario (run by chaos.sh, which documents the options).

A labelled fleet (the simulator's mixed scenario: its ground truth says which device has which
anomaly when) publishes from the ward host through the MQTT load balancer, acknowledged end to
end, while HTTP clients call the API through the nginx gateway. Faults are injected one at a
time, then together; each is healed before the next. At the end, when the alerts consumers have
caught up, the run is scored:

  readings sent / acknowledged end to end / counted in the alerts rollups (0 lost, 0 twice),
  expected alert episodes vs alerts raised (recall, duplicates, false alerts), alert latency
  during faults, the HTTP error rate clients saw, and each fault's time to recover.

The report is one JSON object on stdout; the exit status is 1 when a correctness check fails
(a reading lost or counted twice, an episode without its alert or with two alerts, an HTTP 5xx
other than during the one moment nothing could answer is not a correctness check: it is reported).
"""
import argparse
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "infra", "bench"))
import clinical_safety  # noqa: E402

NET = "172.30.0"
IP = {"gateway": 10, "kafka": 4, "mqtt": 5, "broker-1": 21, "broker-2": 22, "alerts-1": 61,
      "alerts-2": 62, "records-1": 41, "records-2": 42, "bookings-1": 51, "bookings-2": 52, "ward": 80}
PORT = {"broker": 8085, "alerts": 8086, "records": 8082, "bookings": 8083}


def ip(host):
    return f"{NET}.{IP[host]}"


def log(msg):
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sh(script, check=True):
    """A bash snippet with the cluster's helpers loaded (lib.sh and up.sh's start functions)."""
    prelude = (f". '{HERE}/lib.sh'; . \"$CLUSTER_DIR/run/ports.sh\"; "
               f". \"$CLUSTER_DIR/run/functions.sh\"; BIN_DIR=\"$(cat \"$CLUSTER_DIR/bin-dir\")\"; ")
    return subprocess.run(["bash", "-c", prelude + script], check=check, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True).stdout


class Cluster:
    def __init__(self, directory):
        self.dir = directory
        self.ca = os.path.join(directory, "secrets", "gateway", "tls.crt")
        self.ssl = ssl.create_default_context(cafile=self.ca)
        self.base = f"https://{ip('gateway')}/api"

    def pid(self, name):
        with open(os.path.join(self.dir, "run", f"{name}.pid")) as f:
            return int(f.read())

    def kill9(self, name):
        os.kill(self.pid(name), 9)

    def restart_service(self, instance):
        service, n = instance.rsplit("-", 1)
        sh(f"start_service {service} {n}")

    def restart_kafka(self):
        sh(f"start_kafka; wait_tcp {ip('kafka')}:9092 60")

    def login(self):
        email = open(os.path.join(self.dir, "secrets", "auth", "admin-email")).read().strip()
        password = open(os.path.join(self.dir, "secrets", "auth", "admin-password")).read().strip()
        req = urllib.request.Request(f"{self.base}/v1/auth/login", method="POST",
                                     data=json.dumps({"email": email, "password": password}).encode(),
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=30, context=self.ssl) as r:
            return json.load(r)["access_token"]

    def metric(self, host, port, name):
        """Sum of a Prometheus counter/gauge over its series, or None when the host is down."""
        try:
            with urllib.request.urlopen(f"http://{ip(host)}:{port}/metrics", timeout=1) as r:
                text = r.read().decode()
        except Exception:
            return None
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and (line[len(name)] in " {"):
                total += float(line.rsplit(" ", 1)[1])
        return total


class Sampler(threading.Thread):
    """Every 0.5 s: readings applied by the alerts consumers (both instances)."""

    def __init__(self, cluster):
        super().__init__(daemon=True)
        self.cluster, self.samples, self.stop = cluster, [], threading.Event()
        self.last = {}

    def applied(self):
        total = 0.0
        for host in ("alerts-1", "alerts-2"):
            value = self.cluster.metric(host, PORT["alerts"], "episante_alerts_readings_total")
            prev_raw, prev_base = self.last.get(host, (0.0, 0.0))
            if value is None:
                # Down (killed, or not answering in time): what it applied so far still counts.
                total += prev_base + prev_raw
                continue
            # A restarted instance starts its counter at 0: count what each process applied.
            base = prev_base + prev_raw if value < prev_raw else prev_base
            self.last[host] = (value, base)
            total += base + value
        return total

    def run(self):
        while not self.stop.is_set():
            self.samples.append((time.time(), self.applied()))
            time.sleep(0.5)

    def rate(self, t0, t1):
        pts = [(t, v) for t, v in self.samples if t0 <= t <= t1]
        if len(pts) < 2 or pts[-1][0] == pts[0][0]:
            return None
        return (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])


class HttpClients(threading.Thread):
    """Clients calling the API through the gateway, as the portal and scripts do: reads of the
    records and bookings services, every 100 ms. Records (time, status) of each call."""

    def __init__(self, cluster, token):
        super().__init__(daemon=True)
        self.cluster, self.token, self.calls, self.stop = cluster, token, [], threading.Event()

    def run(self):
        paths = ["/v1/patients?limit=5", "/v1/practitioners", "/v1/care-teams"]
        i = 0
        while not self.stop.is_set():
            path = paths[i % len(paths)]
            i += 1
            req = urllib.request.Request(self.cluster.base + path,
                                         headers={"authorization": f"Bearer {self.token}"})
            started = time.time()
            try:
                with urllib.request.urlopen(req, timeout=10, context=self.cluster.ssl) as r:
                    r.read()
                    status = r.status
            except urllib.error.HTTPError as e:
                status = e.code
            except Exception:
                status = 0
            self.calls.append((started, status))
            time.sleep(0.1)

    def errors(self, t0, t1):
        window = [s for t, s in self.calls if t0 <= t < t1]
        bad = [s for s in window if s == 0 or s >= 500]
        return len(window), len(bad)


def netem(on):
    """200 ms latency and 2 % loss on the ward host's link, both directions."""
    action = "replace" if on else "del"
    rule = "netem delay 200ms 20ms loss 2%" if on else ""
    sh(f"tc qdisc {action} dev ec-ward root {rule}; in_host ward tc qdisc {action} dev eth0 root {rule}",
       check=False)


def partition(host, on):
    """Cuts HOST off from Kafka: the Kafka host drops everything to it (silence, not refusal)."""
    verb = "add" if on else "del"
    sh(f"in_host kafka ip route {verb} blackhole {ip(host)}/32", check=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--phase", type=float, default=45, help="seconds per fault phase")
    ap.add_argument("--partition", type=float, default=30, help="seconds the partition lasts")
    ap.add_argument("--rate", type=float, default=1.0, help="samples per device per second")
    ap.add_argument("--speed", type=float, default=10.0,
                    help="simulated seconds per second (10 at rate 1: a sample every 10 simulated s, as infra/bench/alerts.sh)")
    ap.add_argument("--connect-rate", type=int, default=100)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    cluster = Cluster(os.environ["CLUSTER_DIR"])
    work = os.path.join(cluster.dir, "chaos")
    os.makedirs(work, exist_ok=True)
    bin_dir = open(os.path.join(cluster.dir, "bin-dir")).read().strip()

    token = cluster.login()
    prefix = f"chaos{int(time.time()) % 100000}x"
    log(f"provisioning {args.devices} patients and hubs through the gateway ({prefix}…)")
    env = dict(os.environ, EPISANTE_CA_FILE=cluster.ca)
    mapping = os.path.join(work, "map.json")
    with open(mapping, "w") as out:
        subprocess.run([sys.executable, os.path.join(REPO, "infra", "bench", "clinical_safety.py"),
                        "provision", cluster.base, cluster.base, token, prefix, str(args.devices)],
                       check=True, stdout=out, env=env)

    faults = [
        ("kill -9 broker-1", lambda: cluster.kill9("broker-1"), lambda: cluster.restart_service("broker-1")),
        ("kill -9 alerts-1", lambda: cluster.kill9("alerts-1"), lambda: cluster.restart_service("alerts-1")),
        (f"partition alerts-2 from Kafka for {args.partition:.0f} s",
         lambda: partition("alerts-2", True), lambda: partition("alerts-2", False)),
        ("200 ms latency + 2 % loss on the ward link", lambda: netem(True), lambda: netem(False)),
        ("kill -9 records-1 and bookings-1 (gateway upstreams)",
         lambda: (cluster.kill9("records-1"), cluster.kill9("bookings-1")),
         lambda: (cluster.restart_service("records-1"), cluster.restart_service("bookings-1"))),
        ("kill -9 Kafka (tansu), restart after 5 s", lambda: cluster.kill9("kafka"), cluster.restart_kafka),
        ("together: kill -9 broker-2 + alerts-2, ward netem",
         lambda: (cluster.kill9("broker-2"), cluster.kill9("alerts-2"), netem(True)),
         lambda: (cluster.restart_service("broker-2"), cluster.restart_service("alerts-2"), netem(False))),
    ]
    ramp = args.devices / args.connect_rate
    warmup = max(20.0, ramp + 10)
    duration = int(warmup + 60 + len(faults) * args.phase + 15)
    truth = os.path.join(work, "truth.jsonl")
    report_path = os.path.join(work, "fleet.json")
    sim = ["ip", "netns", "exec", "epc-ward", os.path.join(bin_dir, "episante-sim"), "run",
           "--host", "mqtt", "--port", "8883", "--registry", cluster.base, "--ca-file", cluster.ca,
           "--token", token, "--devices", str(args.devices), "--prefix", prefix,
           "--rate", str(args.rate), "--speed", str(args.speed), "--duration", str(duration),
           "--scenario", "mixed", "--seed", str(args.seed), "--ground-truth", truth,
           "--connect-rate", str(args.connect_rate), "--drain-secs", "180", "--report", "json"]
    sampler = Sampler(cluster)
    sampler.start()
    clients = HttpClients(cluster, token)
    clients.start()
    log(f"fleet: {args.devices} devices, {duration} s, faults every {args.phase:.0f} s after {warmup:.0f} s")
    with open(report_path, "w") as out, open(os.path.join(work, "fleet.log"), "w") as err:
        fleet = subprocess.Popen(sim, stdout=out, stderr=err)
        fleet_started = time.time()
        # Registration and the ramp: faults start once the platform applies at least 80 % of
        # what the fleet sends (six vitals per sample), or after a minute.
        expected = args.devices * args.rate * 6
        settle = time.time() + 60
        time.sleep(warmup)
        while time.time() < settle and (sampler.rate(time.time() - 5, time.time()) or 0) < 0.8 * expected:
            if fleet.poll() is not None:
                sys.exit("the fleet stopped early:\n" + open(os.path.join(work, "fleet.log")).read()[-2000:])
            time.sleep(1)
        log(f"steady: {sampler.rate(time.time() - 5, time.time()) or 0:.0f} readings/s applied "
            f"({expected:.0f}/s sent)")
        phases = []
        for name, inject, heal in faults:
            baseline = sampler.rate(time.time() - 10, time.time())
            log(f"fault: {name}")
            t_fault = time.time()
            inject()
            hold = args.partition if "partition" in name else (5 if "Kafka" in name else args.phase / 3)
            time.sleep(hold)
            heal()
            t_heal = time.time()
            log(f"healed after {t_heal - t_fault:.1f} s")
            time.sleep(max(0.0, args.phase - (t_heal - t_fault)))
            phases.append({"fault": name, "t_fault": t_fault, "t_heal": t_heal, "t_end": time.time(),
                           "baseline": baseline})
        log("faults done; waiting for the fleet to finish and drain")
        fleet.wait()
    clients.stop.set()
    # The consumers catch up: applied readings stop growing and the lag is 0.
    deadline = time.time() + 300
    while time.time() < deadline:
        lag = sum(cluster.metric(h, PORT["alerts"], "episante_alerts_consumer_lag") or 0
                  for h in ("alerts-1", "alerts-2"))
        if lag == 0 and (sampler.rate(time.time() - 5, time.time()) or 0) < 1:
            break
        time.sleep(1)
    sampler.stop.set()

    fleet_report = json.load(open(report_path))
    rollups = int(sh(
        f"in_host db \"$(pg_bin)/psql\" -h \"$CLUSTER_DIR/pg/sock\" -U postgres -d episante_alerts -qAt "
        f"-c \"SELECT coalesce(sum(count), 0) FROM vitals_minute WHERE device_id LIKE '{prefix}%'\"").strip())
    sent, acked = fleet_report["readings_sent"], fleet_report["readings_acked"]

    clinical_safety.SSL = cluster.ssl
    ours = set(json.load(open(mapping)).values())
    every = [a for a in clinical_safety.fetch_alerts(cluster.base, token) if a["patient_id"] in ours]
    # Once the fleet stops, every device falls silent and the dropout watchdog rightly says so:
    # those alerts are not part of the scenario.
    fleet_end_ms = (fleet_started + ramp + duration + 5) * 1000
    alerts = [a for a in every if clinical_safety.iso_ms(a["created_at"]) <= fleet_end_ms]
    sim_seconds = duration * args.speed
    scored = clinical_safety.evaluate(alerts, truth, mapping, sim_seconds, args.devices)

    def latency(t0, t1):
        """Reading received → alert committed, for alerts on readings received in [t0, t1)."""
        values = [clinical_safety.iso_ms(a["created_at"]) - clinical_safety.iso_ms(a["reading_received_at"])
                  for a in alerts if a.get("reading_received_at")
                  and t0 <= clinical_safety.iso_ms(a["reading_received_at"]) / 1000 < t1]
        return {"p50_ms": clinical_safety.percentile(values, 0.5),
                "p99_ms": clinical_safety.percentile(values, 0.99), "alerts": len(values)}

    fault_reports = []
    # The fleet publishes until here (after it, the rate falls to 0 by design).
    fleet_stop = fleet_started + ramp + duration - 2
    for p in phases:
        calls, bad = clients.errors(p["t_fault"], p["t_end"])
        # Recovery: from the fault until the readings applied per second stay at or above 80 % of
        # the rate before it (catching up counts), judged over 2-second windows.
        base = p["baseline"] or 0
        last_dip = None
        t = p["t_fault"]
        while t < min(p["t_end"], fleet_stop):
            r = sampler.rate(t, t + 2)
            if r is not None and r < 0.8 * base:
                last_dip = t
            t += 0.5
        fault_reports.append({
            "fault": p["fault"],
            "lasted_s": round(p["t_heal"] - p["t_fault"], 1),
            "readings_per_s_before": round(base),
            "recovered_after_s": 0.0 if last_dip is None else round(last_dip + 2 - p["t_fault"], 1),
            "alert_latency": latency(p["t_fault"], p["t_end"]),
            "http_calls": calls,
            "http_errors": bad,
        })

    total_calls, total_bad = clients.errors(0, time.time() + 1)
    report = {
        "devices": args.devices,
        "duration_s": duration,
        "readings_sent": sent,
        "readings_acked_end_to_end": acked,
        "readings_in_rollups": rollups,
        "readings_lost": max(0, sent - rollups),
        "readings_counted_twice": max(0, rollups - sent),
        "messages_resent_after_reconnect": fleet_report.get("messages_resent"),
        "device_connection_errors": fleet_report.get("errors"),
        "alert_episodes_expected": scored["windows"],
        "recall": scored["recall"],
        "recall_total": scored["recall_total"],
        "duplicate_alerts": scored["duplicate_alerts"],
        "false_alerts": scored["false_alerts"],
        "false_alert_rules": scored["false_alert_rules"],
        "dropout_alerts_after_the_fleet_stopped": len(every) - len(alerts),
        "alert_latency_during_faults": latency(phases[0]["t_fault"], phases[-1]["t_end"]),
        "http_calls": total_calls,
        "http_errors": total_bad,
        "http_error_rate": round(total_bad / total_calls, 4) if total_calls else None,
        "faults": fault_reports,
    }
    print(json.dumps(report, indent=2))
    ok = (report["readings_lost"] == 0 and report["readings_counted_twice"] == 0
          and acked == sent and scored["recall_total"] == 1.0 and scored["duplicate_alerts"] == 0)
    log("PASS: 0 lost, 0 counted twice, every episode alerted once" if ok else "FAIL: see the report")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
