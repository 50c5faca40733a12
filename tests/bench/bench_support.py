"""What the benchmark scripts share: starting the binaries, a seed with generated rows, a config
connected to the sandbox, the sandbox's call counts, and the sequential scenarios of sync_latency
(also run by load_bench). Loopback only."""
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start(argv, ready, log_path):
    """Starts a binary; returns (process, {name: host:port}) once every `ready` line was printed."""
    log = open(log_path, "w")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, text=True)
    found = {}
    deadline = time.time() + 20
    while len(found) < len(ready) and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        for name in ready:
            match = re.search(name + r" listening on (\S+)", line)
            if match:
                found[name] = match.group(1)
    if len(found) < len(ready):
        proc.kill()
        sys.exit(f"{argv[0]} did not start; see {log_path}")
    return proc, found


def bench_seed(events):
    with open(os.path.join(ROOT, "tests/sandbox/seed/default.json")) as f:
        seed = json.load(f)
    tables = {t["name"]: t for t in seed["servicenow"]["tables"]}
    users, apps = tables["sys_user"]["rows"], tables["cmdb_ci_business_app"]["rows"]
    template = dict(apps[0])
    for i in range(2 * events):  # two sets: the outcome route's and /sync's
        owners = []
        for k, role in enumerate(("Alpha", "Beta", "Gamma")):
            sys_id = f"{k + 10:x}{i:031x}"
            users.append({"sys_id": sys_id, "user_name": f"bench{i}.{role.lower()}",
                          "first_name": f"Bench{i}", "last_name": role,
                          "name": f"Bench{i} {role}", "email": "", "active": "true",
                          "title": "", "manager": "", "sys_updated_on": "2024-06-01 00:00:00"})
            owners.append(sys_id)
        row = dict(template, sys_id=f"{i:032d}", name=f"Bench App {i}", number=f"BENCH{i:05d}",
                   it_application_owner=owners[0], u_primary_it_owner=owners[1],
                   u_l3_name=owners[2], owned_by=owners[0],
                   u_regulatory_legal_and_compliance="GDPR, SOX")
        apps.append(row)
    return seed


def sandbox_config(work, servicenow_url, onspring_url, server_extra="", profiles_extra="",
                   top_extra=""):
    """deploy/examples/business-app.yaml connected to the sandbox (secrets in files under `work`),
    with `server_extra` lines added to its server section, `profiles_extra` profiles after its own
    (their YAML may use the example's anchors) and `top_extra` top-level sections; logging at warn. Returns the config's path."""
    for name, value in (("password", "sandbox"), ("api-key", "sandbox-key")):
        with open(os.path.join(work, name), "w") as f:
            f.write(value)
    with open(os.path.join(ROOT, "deploy/examples/business-app.yaml")) as f:
        text = f.read()
    text = text.replace("logging:\n  level: info\n", "")
    text = text.replace("  shutdown_grace: 10s\n", "  shutdown_grace: 10s\n" + server_extra)
    text += profiles_extra  # The example ends with its profiles.
    text += (f"servicenow:\n  instance_url: {servicenow_url}\n"
             f"  auth: {{basic: {{username: admin, password_file: {work}/password}}}}\n"
             f"onspring:\n  base_url: {onspring_url}\n"
             f"  api_key_file: {work}/api-key\nlogging: {{level: warn}}\n" + top_extra)
    path = os.path.join(work, f"config-{abs(hash((server_extra, profiles_extra, top_extra)))}.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def start_pair(bin_dir, work, config_path, label, procs):
    """Starts onsync-server (on `config_path`) and an onsync-gateway in front of it, both on free
    loopback ports; appends both processes to `procs`. Returns (server, gateway, grpc host:port,
    http host:port)."""
    server, bound = start([os.path.join(bin_dir, "onsync-server"), "--config", config_path,
                           "--listen", "127.0.0.1:0", "--jobs_db",
                           os.path.join(work, f"{label}.jobs.db")], ["onsync-server"],
                          os.path.join(work, f"server-{label}.log"))
    procs.append(server)
    gateway, gbound = start([os.path.join(bin_dir, "onsync-gateway"), "--listen", "127.0.0.1:0",
                             "--server", bound["onsync-server"]], ["onsync-gateway"],
                            os.path.join(work, f"gateway-{label}.log"))
    procs.append(gateway)
    return server, gateway, bound["onsync-server"], gbound["onsync-gateway"]


def stop_all(procs):
    """SIGTERM to every process still running (newest first), then SIGKILL after 20 s."""
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sandbox_counts(admin_url):
    """The sandbox's call counts, both fakes: (total, {route: n}). (The routes of the two fakes
    never coincide: ServiceNow's start with /api or /oauth.)"""
    with urllib.request.urlopen(f"{admin_url}/__admin/requests?fake=all") as response:
        log = json.load(response)
    return log["total"], log["counts"]


def sandbox_total(admin_url):
    return sandbox_counts(admin_url)[0]


# The PoC's `/sync` request for the sandbox's seed (tests/sandbox/README.md): its headers, and its
# body without `appName`.
POC_HEADERS = {"Authorization": "Basic YWRtaW46c2FuZGJveA==", "x-apikey": "sandbox-key"}


def poc_body(servicenow_url):
    return {"serviceNowBaseUrl": servicenow_url, "onspringUserAppId": 100,
            "onspringUserFirstNameFieldId": 1001, "onspringUserLastNameFieldId": 1002,
            "onspringUserUsernameFieldId": 1003, "onspringUserEmailFieldId": 1004,
            "onspringUserStatusFieldId": 1006,
            "onspringUserStatusValue": "6f0caae9-2f2d-5073-8d41-592671697963",
            "onspringUserTierFieldId": 1007,
            "onspringUserTierValue": "9e34f1a4-7bbb-5b84-af5b-0b954f359412",
            "onspringUserFullNameFieldId": 1005, "onspringRegTypeAppId": 200,
            "onspringRegTypeIdFieldId": 2001}


def measure(gateway, admin_url, path, bodies, headers):
    """POSTs `bodies` one at a time on one keep-alive connection; exits on a non-200 answer.
    Returns (p50, p90, max) in ms and the upstream calls per event (sandbox counts)."""
    host, port = gateway.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    latencies = []
    before = sandbox_total(admin_url)
    for body in bodies:
        start_time = time.perf_counter()
        connection.request("POST", path, body=json.dumps(body),
                           headers=dict(headers, **{"Content-Type": "application/json"}))
        response = connection.getresponse()
        text = response.read()
        latencies.append((time.perf_counter() - start_time) * 1000)
        if response.status != 200:
            sys.exit(f"{path} answered {response.status}: {text[:300]!r}")
    connection.close()
    calls = (sandbox_total(admin_url) - before) / len(bodies)
    latencies.sort()
    p90 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.9))]
    return statistics.median(latencies), p90, latencies[-1], calls


def sequential_scenarios(cached_gateway, uncached_gateway, servicenow_url, admin_url, n):
    """sync_latency's four scenarios, `n` sequential events each, against a sandbox seeded with
    bench_seed(n) and two server + gateway pairs (default caches; `cache_ttl: 0s`). Each event of
    the "creates" rows uses a fresh "Bench App N", so run this once per sandbox. Returns
    [(label, p50 ms, p90 ms, max ms, upstream calls per event)]."""
    outcome = "/v1/outcomes/business_app"
    existing = [{"recordId": 1007, "name": "Payroll Archive"}] * n
    poc = poc_body(servicenow_url)
    rows = [
        ("cold, references exist", uncached_gateway, outcome, existing, {}),
        ("cold, creates", uncached_gateway, outcome,
         [{"name": f"Bench App {i}"} for i in range(n)], {}),
        ("warm", cached_gateway, outcome, existing[:1] + existing, {}),
        ("/sync cold, creates", uncached_gateway, "/sync",
         [dict(poc, appName=f"Bench App {n + i}") for i in range(n)], POC_HEADERS),
    ]
    results = []
    for label, gateway, path, bodies, headers in rows:
        if label == "warm":
            measure(gateway, admin_url, path, bodies[:1], headers)  # fill the caches
            bodies = bodies[1:]
        results.append((label,) + measure(gateway, admin_url, path, bodies, headers))
    return results
