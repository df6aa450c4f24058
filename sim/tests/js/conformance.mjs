// The official JavaScript client (@kubernetes/client-node, a client nobody here wrote) against
// the simulator: list with label and field selectors, a watch from a resourceVersion, merge
// and JSON patches, server-side apply, a 404, and an informer's list-then-watch. Exits
// non-zero with a message on any mismatch.

import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';

const file = new k8s.KubeConfig();
file.loadFromFile(process.argv[2]);
// The simulator serves plain HTTP, which this client takes only with TLS verification off.
const kc = new k8s.KubeConfig();
kc.loadFromOptions({
  clusters: file.clusters.map((c) => ({ ...c, skipTLSVerify: true })),
  users: file.users,
  contexts: file.contexts,
  currentContext: file.currentContext,
});
const core = kc.makeApiClient(k8s.CoreV1Api);
const namespace = 'default';

const cm = (name, app) => ({
  metadata: { name, labels: { app } },
  data: { k: 'v' },
});

await core.createNamespacedConfigMap({ namespace, body: cm('a', 'js') });
await core.createNamespacedConfigMap({ namespace, body: cm('other', 'not-js') });

const listed = await core.listNamespacedConfigMap({ namespace, labelSelector: 'app=js' });
assert.deepEqual(listed.items.map((i) => i.metadata.name), ['a'], 'label selector');
const byName = await core.listNamespacedConfigMap({ namespace, fieldSelector: 'metadata.name=other' });
assert.deepEqual(byName.items.map((i) => i.metadata.name), ['other'], 'field selector');
const start = listed.metadata.resourceVersion;

// The watch starts from the list's resourceVersion, so it sees exactly what follows.
const seen = [];
const watch = new k8s.Watch(kc);
let stopWatch;
const watched = new Promise((resolve, reject) => {
  watch
    .watch(
      `/api/v1/namespaces/${namespace}/configmaps`,
      { labelSelector: 'app=js', resourceVersion: start, allowWatchBookmarks: true },
      (type, obj) => {
        if (type === 'BOOKMARK') return;
        seen.push([type, obj.metadata.name]);
        if (seen.length === 4) resolve();
      },
      (err) => (err ? reject(err) : resolve()),
    )
    .then((controller) => {
      stopWatch = controller;
    }, reject);
});

await core.createNamespacedConfigMap({ namespace, body: cm('b', 'js') });
await core.patchNamespacedConfigMap(
  { name: 'a', namespace, body: { data: { k: 'merged' } } },
  k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
);
await core.patchNamespacedConfigMap(
  { name: 'a', namespace, body: [{ op: 'add', path: '/data/extra', value: 'json-patch' }] },
  k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
);
await core.deleteNamespacedConfigMap({ name: 'b', namespace });

const timeout = setTimeout(() => {
  console.error(`watch saw only ${JSON.stringify(seen)}`);
  process.exit(1);
}, 10_000);
await watched;
clearTimeout(timeout);
stopWatch?.abort();
assert.deepEqual(seen, [
  ['ADDED', 'b'],
  ['MODIFIED', 'a'],
  ['MODIFIED', 'a'],
  ['DELETED', 'b'],
]);

const a = await core.readNamespacedConfigMap({ name: 'a', namespace });
assert.deepEqual(a.data, { k: 'merged', extra: 'json-patch' }, 'patches');

// Server-side apply through the generic object client: the manager owns what it sent.
const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
const applied = await objects.patch(
  {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'applied', namespace, labels: { app: 'js' } },
    data: { owned: 'by-js' },
  },
  undefined,
  undefined,
  'js-client',
  true,
  k8s.PatchStrategy.ServerSideApply,
);
assert.equal(applied.data.owned, 'by-js');
const entry = applied.metadata.managedFields.find((m) => m.manager === 'js-client');
assert.ok(entry, `no managedFields entry for js-client: ${JSON.stringify(applied.metadata.managedFields)}`);
assert.equal(entry.operation, 'Apply');
assert.ok('f:owned' in entry.fieldsV1['f:data'], JSON.stringify(entry.fieldsV1));

// Errors arrive as the client's ApiException with the Status code.
await assert.rejects(
  core.readNamespacedConfigMap({ name: 'missing', namespace }),
  (err) => err.code === 404,
);

// An informer lists, then watches: it learns of an object created after it started.
const informer = k8s.makeInformer(
  kc,
  `/api/v1/namespaces/${namespace}/configmaps`,
  () => core.listNamespacedConfigMap({ namespace, labelSelector: 'app=js' }),
  'app=js',
);
const added = new Promise((resolve) => {
  informer.on('add', (obj) => {
    if (obj.metadata.name === 'late') resolve();
  });
});
await informer.start();
const initial = informer.list(namespace).map((o) => o.metadata.name).sort();
assert.deepEqual(initial, ['a', 'applied'], 'informer cache after its list');
await core.createNamespacedConfigMap({ namespace, body: cm('late', 'js') });
const lateTimeout = setTimeout(() => {
  console.error('the informer never saw "late"');
  process.exit(1);
}, 10_000);
await added;
clearTimeout(lateTimeout);
await informer.stop();

console.log('js client: list, watch, patch, apply OK');
