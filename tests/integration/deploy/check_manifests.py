#!/usr/bin/python3
"""Structural checks of deploy/: the Kubernetes base, compose.yaml and the Containerfile.

No Kubernetes schema validator is packaged for Debian 12 (no kubeconform/kubeval; the
kubernetes-client package is kubectl 1.20 and needs a cluster for --dry-run), so this
asserts with python3-yaml the structure that matters: every workload's selector matches
its pod labels; every container has an image, readiness+liveness probes that run the
health probe for its own service, CPU/memory requests and limits, a non-root
read-only-root security context; every Service selects real pods and targets a real
container port; every env secretKeyRef / secret volume names an existing Secret key;
every NetworkPolicy selects real pods and names real ports, and together the policies
allow exactly the intended graph; stateful services are StatefulSets with volume claims
on the data directory; peer URLs point at a Service that serves that port.
If `kubectl` is on PATH, `kubectl kustomize` must also build the base.
Prints one line per failed assertion; exit 1 if any.
"""
import os
import re
import shutil
import subprocess
import sys

import yaml

SRC = os.environ.get("XD_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
K8S = os.path.join(SRC, "deploy", "k8s")
SERVICES = {"gateway": 7400, "sender": 7401, "ratelimit": 7402, "verify": 7403, "ticket": 7404}
STATEFUL = ["ratelimit", "verify", "sender", "ticket"]
# Who may open connections to whom (besides the gateway, which anyone may reach).
ALLOWED = {
    "ratelimit": {"gateway", "sender"},
    "verify": {"gateway", "sender", "ticket"},
    "sender": {"gateway"},
    "ticket": {"gateway"},
}
DATA_DIR = "/var/lib/xdmail"

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def load_k8s():
    with open(os.path.join(K8S, "kustomization.yaml")) as f:
        kust = yaml.safe_load(f)
    listed = kust.get("resources", [])
    present = sorted(n for n in os.listdir(K8S)
                     if n.endswith(".yaml") and n != "kustomization.yaml")
    check(sorted(listed) == present,
          f"kustomization resources {sorted(listed)} != files in deploy/k8s {present}")
    docs = []
    for name in listed:
        with open(os.path.join(K8S, name)) as f:
            for d in yaml.safe_load_all(f):
                if d:
                    d["_file"] = name
                    docs.append(d)
    return kust, docs


def pod_spec(w):
    t = w["spec"]["jobTemplate"]["spec"]["template"] if w["kind"] == "CronJob" \
        else w["spec"]["template"]
    return t.get("metadata", {}).get("labels", {}), t["spec"]


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def container_ports(spec):
    ports = {}
    for c in spec.get("containers", []):
        for p in c.get("ports", []):
            ports[p["containerPort"]] = p["containerPort"]
            if "name" in p:
                ports[p["name"]] = p["containerPort"]
    return ports


def check_workloads(docs, by_kind):
    secrets = {d["metadata"]["name"]: d for d in by_kind.get("Secret", [])}
    pvcs = {d["metadata"]["name"] for d in by_kind.get("PersistentVolumeClaim", [])}
    services = {d["metadata"]["name"]: d for d in by_kind.get("Service", [])}
    workloads = by_kind.get("Deployment", []) + by_kind.get("StatefulSet", []) + \
        by_kind.get("CronJob", [])
    for w in workloads:
        name = f'{w["kind"]}/{w["metadata"]["name"]}'
        labels, spec = pod_spec(w)
        if w["kind"] != "CronJob":
            sel = w["spec"].get("selector", {}).get("matchLabels", {})
            check(matches(sel, labels), f"{name}: selector {sel} does not match pod labels {labels}")
        psc = spec.get("securityContext", {})
        check(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0,
              f"{name}: pod securityContext must run as non-root")
        vols = {v["name"]: v for v in spec.get("volumes", [])}
        for t in w["spec"].get("volumeClaimTemplates", []):
            vols[t["metadata"]["name"]] = {"name": t["metadata"]["name"], "claimTemplate": t}
        for v in vols.values():
            if "persistentVolumeClaim" in v:
                claim = v["persistentVolumeClaim"]["claimName"]
                # <template>-<statefulset>-<ordinal>: a StatefulSet's own claim.
                m = re.fullmatch(r"([a-z]+)-([a-z]+)-\d+", claim)
                owned = m and any(st["metadata"]["name"] == m.group(2) and m.group(1) in
                                  [t["metadata"]["name"] for t in
                                   st["spec"].get("volumeClaimTemplates", [])]
                                  for st in by_kind.get("StatefulSet", []))
                check(claim in pvcs or owned, f"{name}: volume {v['name']} claims unknown {claim}")
            if "secret" in v:
                sn = v["secret"]["secretName"]
                if check(sn in secrets, f"{name}: volume {v['name']} uses unknown Secret {sn}"):
                    keys = secrets[sn].get("stringData", {}) | secrets[sn].get("data", {})
                    for it in v["secret"].get("items", []):
                        check(it["key"] in keys, f"{name}: Secret {sn} has no key {it['key']}")
        component = labels.get("app.kubernetes.io/component")
        for c in spec.get("containers", []):
            cn = f"{name} container {c['name']}"
            check(bool(c.get("image")), f"{cn}: no image")
            res = c.get("resources", {})
            for kind in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    check(r in res.get(kind, {}), f"{cn}: no resources.{kind}.{r}")
            csc = c.get("securityContext", {})
            check(csc.get("allowPrivilegeEscalation") is False and
                  csc.get("readOnlyRootFilesystem") is True and
                  "ALL" in csc.get("capabilities", {}).get("drop", []),
                  f"{cn}: securityContext must drop ALL, no privilege escalation, read-only root")
            for m in c.get("volumeMounts", []):
                check(m["name"] in vols, f"{cn}: mounts unknown volume {m['name']}")
            # Read-only root: SQLite needs a writable temporary directory.
            tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            check(tmp and "emptyDir" in vols.get(tmp[0]["name"], {}),
                  f"{cn}: no emptyDir mounted at /tmp (the root filesystem is read-only)")
            env = {e["name"]: e for e in c.get("env", [])}
            for e in env.values():
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    s = secrets.get(ref["name"])
                    keys = (s.get("stringData", {}) | s.get("data", {})) if s else {}
                    check(ref["key"] in keys,
                          f"{cn}: env {e['name']} refers to missing Secret key "
                          f"{ref['name']}/{ref['key']}")
                val = str(e.get("value", ""))
                m = re.match(r"(?:tls\+)?tcp://([a-z0-9-]+):(\d+)$", val)
                if e["name"].endswith("_URL") and m:
                    svc = services.get(m.group(1))
                    if check(svc is not None, f"{cn}: {e['name']}={val} names no Service"):
                        check(any(p["port"] == int(m.group(2)) for p in svc["spec"]["ports"]),
                              f"{cn}: {e['name']}={val}: Service {m.group(1)} has no port "
                              f"{m.group(2)}")
            if w["kind"] == "CronJob":
                continue
            check(component in SERVICES, f"{name}: pod label component {component!r} unknown")
            cports = container_ports({"containers": [c]})
            listen = env.get(f"XD_{str(component).upper()}_LISTEN", {}).get("value", "")
            check(listen.endswith(f":{SERVICES.get(component)}") and
                  cports.get("rpc") == SERVICES.get(component),
                  f"{cn}: listen {listen!r} / rpc port {cports.get('rpc')} != "
                  f"{SERVICES.get(component)}")
            check(c.get("args", [])[:2] == ["serve", component],
                  f"{cn}: args {c.get('args')} must be ['serve', '{component}']")
            data = env.get(f"XD_{str(component).upper()}_DATA_DIR", {}).get("value")
            check(data == DATA_DIR, f"{cn}: data_dir {data} != {DATA_DIR}")
            check(any(m["mountPath"] == DATA_DIR for m in c.get("volumeMounts", [])),
                  f"{cn}: nothing mounted at {DATA_DIR}")
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                cmd = c.get(probe, {}).get("exec", {}).get("command")
                check(cmd == ["/usr/local/bin/xd-entrypoint", "health", component],
                      f"{cn}: {probe} {cmd} is not the health probe of {component}")
    return workloads


def check_services(by_kind, workloads):
    for s in by_kind.get("Service", []):
        name = f'Service/{s["metadata"]["name"]}'
        sel = s["spec"].get("selector", {})
        targets = [pod_spec(w) for w in workloads if w["kind"] != "CronJob"
                   and matches(sel, pod_spec(w)[0])]
        if not check(targets, f"{name}: selector {sel} matches no pod template"):
            continue
        for p in s["spec"]["ports"]:
            tp = p.get("targetPort", p["port"])
            for _, spec in targets:
                check(tp in container_ports(spec),
                      f"{name}: port {p['port']} targets {tp!r}, not a container port")
    for st in by_kind.get("StatefulSet", []):
        svc = next((s for s in by_kind.get("Service", [])
                    if s["metadata"]["name"] == st["spec"].get("serviceName")), None)
        check(svc is not None and svc["spec"].get("clusterIP") == "None",
              f"StatefulSet/{st['metadata']['name']}: serviceName is not a headless Service")


def check_shapes(by_kind):
    deployments = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", [])}
    statefulsets = {d["metadata"]["name"]: d for d in by_kind.get("StatefulSet", [])}
    check("gateway" in deployments, "gateway must be a Deployment")
    for s in STATEFUL:
        st = statefulsets.get(s)
        if check(st is not None, f"{s} must be a StatefulSet"):
            claims = [t["metadata"]["name"] for t in st["spec"].get("volumeClaimTemplates", [])]
            check("data" in claims, f"StatefulSet/{s}: no volumeClaimTemplate 'data'")
    hpas = by_kind.get("HorizontalPodAutoscaler", [])
    check(any(h["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": "gateway"} for h in hpas),
          "no HorizontalPodAutoscaler targets Deployment/gateway")
    for h in hpas:
        check(1 <= h["spec"].get("minReplicas", 1) <= h["spec"]["maxReplicas"],
              f"HPA/{h['metadata']['name']}: minReplicas > maxReplicas")
    gw = deployments.get("gateway")
    if gw and any(v.get("persistentVolumeClaim") for v in pod_spec(gw)[1].get("volumes", [])):
        # A ReadWriteOnce SQLite volume cannot be shared by replicas.
        check(gw["spec"].get("strategy", {}).get("type") == "Recreate" and
              all(h["spec"]["maxReplicas"] == 1 for h in hpas
                  if h["spec"]["scaleTargetRef"]["name"] == "gateway"),
              "gateway keeps gateway.db on a volume: it must be one replica with Recreate")
    # Placeholders must fail closed: not a usable key by accident.
    keys = next((s for s in by_kind.get("Secret", []) if s["metadata"]["name"] == "xdmail-keys"),
                None)
    if check(keys is not None, "no Secret xdmail-keys"):
        sd = keys.get("stringData", {})
        for k in ("dkim-master-key", "optout-secret", "api-key-pepper"):
            check(k in sd, f"Secret xdmail-keys has no {k}")
        check(not re.fullmatch(r"[0-9a-fA-F]{64}", sd.get("dkim-master-key", "")),
              "committed dkim-master-key looks like a real key")
        check(len(sd.get("optout-secret", "")) < 32, "committed optout-secret looks usable")
        check(len(sd.get("api-key-pepper", "")) < 32, "committed api-key-pepper looks usable")


def component_of(selector, workloads):
    comps = {pod_spec(w)[0].get("app.kubernetes.io/component") for w in workloads
             if w["kind"] != "CronJob" and matches(selector, pod_spec(w)[0])}
    return comps


def check_policies(by_kind, workloads):
    pols = by_kind.get("NetworkPolicy", [])
    check(any(p["spec"]["podSelector"] == {} and p["spec"].get("policyTypes") == ["Ingress"]
              and not p["spec"].get("ingress") for p in pols),
          "no default-deny ingress NetworkPolicy (podSelector {})")
    allowed = {s: set() for s in SERVICES}
    for p in pols:
        name = f'NetworkPolicy/{p["metadata"]["name"]}'
        sel = p["spec"]["podSelector"].get("matchLabels", {})
        if not sel:
            continue
        targets = component_of(sel, workloads)
        if not check(len(targets) == 1, f"{name}: podSelector {sel} selects {targets}"):
            continue
        target = targets.pop()
        tw = [w for w in workloads if pod_spec(w)[0].get("app.kubernetes.io/component") == target]
        tports = container_ports(pod_spec(tw[0])[1])
        for rule in p["spec"].get("ingress", []):
            for port in rule.get("ports", []):
                check(port["port"] in tports,
                      f"{name}: port {port['port']!r} is not a port of {target}'s pods")
            if "from" not in rule:
                allowed[target].add("*")
                continue
            for peer in rule["from"]:
                check(set(peer) == {"podSelector"},
                      f"{name}: peer {peer} is not a plain podSelector")
                srcs = component_of(peer.get("podSelector", {}).get("matchLabels", {}), workloads)
                check(len(srcs) == 1, f"{name}: from {peer} selects {srcs}")
                allowed[target] |= srcs
    check(allowed["gateway"] == {"*"}, f"gateway reachable from {allowed['gateway']}, want anyone")
    for svc, want in ALLOWED.items():
        check(allowed[svc] == want,
              f"{svc} reachable from {sorted(allowed[svc])}, want exactly {sorted(want)}")


def check_kustomize_build():
    kubectl = shutil.which("kubectl")
    if not kubectl:
        print("kubectl not on PATH: kustomize build not checked")
        return
    r = subprocess.run([kubectl, "kustomize", K8S], capture_output=True, text=True, timeout=60)
    if check(r.returncode == 0, f"kubectl kustomize failed: {r.stderr.strip()}"):
        kinds = [d["kind"] for d in yaml.safe_load_all(r.stdout) if d]
        print(f"kubectl kustomize: {len(kinds)} objects")
        built = list(yaml.safe_load_all(r.stdout))
        check(all(d["metadata"].get("namespace") == "xdmail" for d in built
                  if d and d["kind"] != "Namespace"), "kustomize output not all in namespace xdmail")


def check_compose():
    with open(os.path.join(SRC, "deploy", "compose.yaml")) as f:
        c = yaml.safe_load(f)
    svcs = c["services"]
    check(set(svcs) == set(SERVICES) | {"mailsink"},
          f"compose services {sorted(svcs)} != the five + mailsink")
    nets = c.get("networks", {})
    check("backend" in nets and "public" in nets, "compose: networks backend and public")
    check("public" in svcs.get("gateway", {}).get("networks", []) and
          all("public" not in s.get("networks", []) for n, s in svcs.items() if n != "gateway"),
          "compose: only the gateway may be on the public network")
    vols = set(c.get("volumes", {}))
    for name, s in svcs.items():
        check("backend" in s.get("networks", []), f"compose {name}: not on the backend network")
        for v in s.get("volumes", []):
            check(v.split(":")[0] in vols, f"compose {name}: volume {v} not declared")
        for dep in s.get("depends_on", {}):
            check(dep in svcs, f"compose {name}: depends on unknown {dep}")
        if name == "gateway":
            for p in s.get("ports", []):
                check(str(p).startswith("127.0.0.1:"), f"compose gateway: {p} not on loopback")
        else:
            check(not s.get("ports"), f"compose {name}: publishes ports (only the gateway may)")
        if name not in SERVICES:
            continue
        check(s.get("command") == ["serve", name], f"compose {name}: command {s.get('command')}")
        test = s.get("healthcheck", {}).get("test")
        check(test == ["CMD", "/usr/local/bin/xd-entrypoint", "health", name],
              f"compose {name}: healthcheck {test}")
        check(any(v.endswith(":" + DATA_DIR) for v in s.get("volumes", [])),
              f"compose {name}: no volume at {DATA_DIR}")
        env = s.get("environment", {})
        listen = env.get(f"XD_{name.upper()}_LISTEN", "")
        check(listen == f"tcp://0.0.0.0:{SERVICES[name]}", f"compose {name}: listen {listen!r}")
        for k, v in env.items():
            m = re.match(r"tcp://([a-z]+):(\d+)$", str(v))
            if k.endswith("_URL") and m:
                check(SERVICES.get(m.group(1)) == int(m.group(2)),
                      f"compose {name}: {k}={v} is not a service's port")
                peer = svcs.get(name, {}).get("depends_on", {})
                check(m.group(1) in peer, f"compose {name}: calls {m.group(1)} but does not "
                      "depend on it being healthy")


def check_containerfile():
    with open(os.path.join(SRC, "deploy", "Containerfile")) as f:
        text = f.read()
    check(re.search(r"^ARG BASE=debian:bookworm-slim$", text, re.M), "no ARG BASE default")
    stages = re.findall(r"^FROM (\S+) AS (\S+)$", text, re.M)
    check(all(b == "${BASE}" for b, _ in stages), f"a stage not FROM ${{BASE}}: {stages}")
    check(stages and stages[-1][1] == "runtime", "the last (default) stage is not runtime")
    runtime = text[text.rindex("AS runtime"):]
    check(re.search(r"^USER 10001", runtime, re.M), "runtime stage: no non-root USER")
    check('VOLUME ["/var/lib/xdmail"]' in runtime, "runtime stage: no VOLUME /var/lib/xdmail")
    check(re.search(r"^HEALTHCHECK .*\n\s+CMD \[\"/usr/local/bin/xd-entrypoint\", \"health\"\]",
                    runtime, re.M), "runtime stage: HEALTHCHECK is not the health probe")
    check("-dev" not in runtime and "install-deps" not in runtime,
          "runtime stage installs build packages")


def main():
    kust, docs = load_k8s()
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    workloads = check_workloads(docs, by_kind)
    check_services(by_kind, workloads)
    check_shapes(by_kind)
    check_policies(by_kind, workloads)
    check_kustomize_build()
    check_compose()
    check_containerfile()
    for f in failures:
        print("FAIL:", f)
    kinds = {k: len(v) for k, v in sorted(by_kind.items())}
    print(f"checked {len(docs)} Kubernetes objects {kinds}, compose.yaml, Containerfile: "
          f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
