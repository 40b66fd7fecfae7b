#!/usr/bin/env python3
"""Prints, one per line, the `podman run` arguments that give a container what deploy/daemonset.yaml
gives its pod on a Kubernetes node: the same capabilities (everything else dropped), not
privileged, no privilege escalation, read-only root, the host's PID namespace, the same seccomp
profile, the same hostPath mounts, the memory limit, the image's arguments; then the image.

    podman-args.py DAEMONSET LOGDIR PORT [SECCOMP_PROFILE_FILE]

LOGDIR replaces the hostPath of the volume mounted at /var/log/opensnoop (a test should not
write to the host's own log directory); every other hostPath is used as it is. The metrics port
is published on 127.0.0.1:PORT. A SECCOMP_PROFILE_FILE stands in for the node's RuntimeDefault
profile (with --seccomp-default kubelets). A field of the pod or container spec this script
does not know how to apply is an error, so that the test cannot silently check less than the
DaemonSet asks for.
"""
import sys

import yaml

daemonset_path, log_dir, port = sys.argv[1:4]
runtime_default = sys.argv[4] if len(sys.argv) > 4 else None
with open(daemonset_path) as f:
    daemonset = yaml.safe_load(f)
pod = daemonset["spec"]["template"]["spec"]
(container,) = pod["containers"]


def unknown(where, keys, known):
    extra = set(keys) - set(known)
    if extra:
        sys.exit(f"podman-args.py: {where}: no podman equivalent known for {sorted(extra)}")


# Scheduling and Kubernetes-only fields have no effect on what runs in the container.
unknown("pod spec", pod, {"hostPID", "tolerations", "containers", "volumes", "securityContext",
                          "priorityClassName", "terminationGracePeriodSeconds", "nodeSelector",
                          "serviceAccountName", "automountServiceAccountToken"})
unknown("container", container, {"name", "image", "imagePullPolicy", "args", "ports", "securityContext",
                                 "readinessProbe", "livenessProbe", "resources", "volumeMounts"})
context = container.get("securityContext", {})
unknown("container securityContext", context, {"privileged", "allowPrivilegeEscalation", "readOnlyRootFilesystem",
                                               "capabilities", "seccompProfile"})
unknown("pod securityContext", pod.get("securityContext", {}), {})

args = []
if pod.get("hostPID"):
    args.append("--pid=host")
if context.get("privileged"):
    args.append("--privileged")
if context.get("allowPrivilegeEscalation") is False:
    args.append("--security-opt=no-new-privileges")
if context.get("readOnlyRootFilesystem"):
    # Kubernetes mounts no tmpfs on /tmp, /run, /var/tmp as podman's --read-only does by default.
    args += ["--read-only", "--read-only-tmpfs=false"]
caps = context.get("capabilities", {})
for cap in caps.get("drop", []):
    args.append(f"--cap-drop={cap}")
for cap in caps.get("add", []):
    args.append(f"--cap-add={cap}")
# Without a seccompProfile a kubelet runs containers Unconfined (unless started with
# --seccomp-default, which makes it RuntimeDefault).
seccomp = context.get("seccompProfile", {}).get("type", "Unconfined")
if runtime_default:
    # The pod as a kubelet started with --seccomp-default (or seccompProfile RuntimeDefault) runs it.
    args.append(f"--security-opt=seccomp={runtime_default}")
elif seccomp == "Unconfined":
    args.append("--security-opt=seccomp=unconfined")
elif seccomp != "RuntimeDefault":  # RuntimeDefault: podman's own default profile
    sys.exit(f"podman-args.py: seccompProfile type {seccomp}: not applied by this script")

limits = container.get("resources", {}).get("limits", {})
if "memory" in limits:
    value = limits["memory"]
    units = {"Ki": "k", "Mi": "m", "Gi": "g"}
    args.append(f"--memory={value[:-2]}{units[value[-2:]]}" if value[-2:] in units else f"--memory={value}")

volumes = {v["name"]: v for v in pod.get("volumes", [])}
for mount in container.get("volumeMounts", []):
    volume = volumes[mount["name"]]
    unknown(f"volume {mount['name']}", volume, {"name", "hostPath"})
    host = volume["hostPath"]["path"]
    if mount["mountPath"] == "/var/log/opensnoop":
        host = log_dir
    options = "ro" if mount.get("readOnly") else "rw"
    # Kubernetes' runtimes bind hostPaths recursively (rbind), as podman's -v does.
    args.append(f"--volume={host}:{mount['mountPath']}:{options}")

for declared in container.get("ports", []):
    args.append(f"--publish=127.0.0.1:{port}:{declared['containerPort']}")

args.append(container["image"])
args += container.get("args", [])
print("\n".join(args))
