"""The official Python `kubernetes` client against the simulator: list with selectors and a
watch from a resourceVersion. Exits non-zero with a message on any mismatch."""

import sys

from kubernetes import client, config, watch

config.load_kube_config(config_file=sys.argv[1])
core = client.CoreV1Api()

def cm(name, app):
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels={"app": app}), data={"k": "v"})

core.create_namespaced_config_map("default", cm("a", "py"))
core.create_namespaced_config_map("default", cm("other", "not-py"))
listed = core.list_namespaced_config_map("default", label_selector="app=py")
names = [i.metadata.name for i in listed.items]
assert names == ["a"], names
start = listed.metadata.resource_version

core.create_namespaced_config_map("default", cm("b", "py"))
core.patch_namespaced_config_map("a", "default", {"data": {"k": "w"}})
core.delete_namespaced_config_map("b", "default")

seen = []
w = watch.Watch()
for event in w.stream(core.list_namespaced_config_map, "default", label_selector="app=py",
                      resource_version=start, timeout_seconds=5):
    seen.append((event["type"], event["object"].metadata.name))
    if len(seen) == 3:
        w.stop()
assert seen == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")], seen
print("python client: list and watch OK")
