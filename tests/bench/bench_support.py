"""What the benchmark scripts share: starting the binaries, a seed with generated rows, a config
connected to the sandbox. Loopback only."""
import json
import os
import re
import subprocess
import sys
import time

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
