//! The routers through their one interface: what each refers to, and what it plans from the
//! objects read (missing, foreign, as expected). The fields each writes are pinned beside the
//! pure functions, in each router's own tests.

use serde_json::{Value, json};

use super::*;
use rollout_rs_crds::{MANAGED_BY_ANNOTATION, POD_TEMPLATE_HASH_LABEL, Rollout};

/// The Rollout `shop/web` (uid `u1`) routing through `routing`.
fn rollout(routing: Value) -> Rollout {
    serde_json::from_value(json!({
        "apiVersion": "rollout-rs.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "shop", "uid": "u1"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "web:1"}]}
            },
            "strategy": {"canary": {
                "canaryService": "web-canary",
                "stableService": "web-stable",
                "trafficRouting": routing
            }}
        }
    }))
    .expect("a Rollout")
}

fn want(canary: i32) -> Desired {
    Desired {
        weights: Weights {
            canary,
            total: 100,
            canary_service: "web-canary".into(),
            stable_service: "web-stable".into(),
        },
        canary_hash: "c1".into(),
        stable_hash: "s1".into(),
    }
}

fn r(namespace: &str, name: &str) -> Ref {
    Ref::new(namespace, name)
}

/// What the executor would pass: every referenced object, found in `objects` or not.
fn read(
    router: &dyn Router,
    ro: &Rollout,
    cx: &Config,
    objects: &[(Ref, Value)],
) -> Vec<(Ref, Option<Value>)> {
    router
        .refers_to(ro, cx)
        .into_iter()
        .map(|target| {
            let object = objects
                .iter()
                .find(|(r, _)| *r == target)
                .map(|(_, o)| o.clone());
            (target, object)
        })
        .collect()
}

fn plan(router: &dyn Router, ro: &Rollout, objects: &[(Ref, Value)]) -> Result<Vec<Write>, String> {
    let cx = Config::default();
    router
        .plan(ro, &cx, &want(30), &read(router, ro, &cx, objects))
        .map_err(|e| e.to_string())
}

fn owner(kind: &str, name: &str, uid: &str) -> Value {
    json!({"apiVersion": "rollout-rs.io/v1alpha1", "kind": kind, "name": name, "uid": uid, "controller": true})
}

#[test]
fn the_list_keeps_the_write_order_and_where_each_kind_is_served() {
    let cx = Config::default();
    let kinds: Vec<_> = ROUTERS.iter().map(|r| r.kind()).collect();
    assert_eq!(
        kinds,
        [
            "Ingress",
            "HTTPRoute",
            "VirtualService",
            "DestinationRule",
            "TrafficSplit"
        ]
    );
    let served: Vec<_> = ROUTERS
        .iter()
        .map(|r| {
            let ar = r.resource(&cx);
            format!(
                "{} {} {} {:?}",
                ar.api_version,
                ar.kind,
                ar.plural,
                r.crd(&cx)
            )
        })
        .collect();
    assert_eq!(
        served,
        [
            "networking.k8s.io/v1 Ingress ingresses None",
            "gateway.networking.k8s.io/v1 HTTPRoute httproutes Some(\"httproutes.gateway.networking.k8s.io\")",
            "networking.istio.io/v1 VirtualService virtualservices Some(\"virtualservices.networking.istio.io\")",
            "networking.istio.io/v1 DestinationRule destinationrules Some(\"destinationrules.networking.istio.io\")",
            "split.smi-spec.io/v1alpha2 TrafficSplit trafficsplits Some(\"trafficsplits.split.smi-spec.io\")",
        ]
    );
    let v1alpha1 = Config {
        split_api_version: "split.smi-spec.io/v1alpha1".into(),
    };
    assert_eq!(
        smi::TrafficSplit.resource(&v1alpha1).api_version,
        "split.smi-spec.io/v1alpha1"
    );
    let caching: Vec<_> = ROUTERS
        .iter()
        .filter(|r| r.caches_managed_by())
        .map(|r| r.kind())
        .collect();
    assert_eq!(caching, ["DestinationRule"]);
}

#[test]
fn a_rollout_without_a_router_refers_to_nothing_and_writes_nothing() {
    let cx = Config::default();
    for ro in [rollout(Value::Null), rollout(json!({}))] {
        for router in ROUTERS {
            assert_eq!(
                router.refers_to(&ro, &cx),
                Vec::<Ref>::new(),
                "{}",
                router.kind()
            );
            assert_eq!(
                router.plan(&ro, &cx, &want(30), &[]),
                Ok(vec![]),
                "{}",
                router.kind()
            );
        }
    }
}

mod of_nginx {
    use super::*;

    fn stable(name: &str) -> Value {
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"rules": [{"http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web-stable", "port": {"number": 80}}}}
            ]}}]}
        })
    }

    fn canary(owners: Value) -> Value {
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "web-public-canary", "namespace": "shop", "ownerReferences": owners},
        })
    }

    fn ro() -> Rollout {
        rollout(json!({"nginx": {"stableIngress": "public"}}))
    }

    #[test]
    fn refers_to_the_stable_and_the_canary_ingresses() {
        let ro =
            rollout(json!({"nginx": {"stableIngress": "public", "stableIngresses": ["internal"]}}));
        assert_eq!(
            nginx::Nginx.refers_to(&ro, &Config::default()),
            [
                r("shop", "public"),
                r("shop", "web-public-canary"),
                r("shop", "internal"),
                r("shop", "web-internal-canary"),
            ]
        );
    }

    #[test]
    fn a_missing_stable_ingress_is_an_error() {
        assert_eq!(
            plan(&nginx::Nginx, &ro(), &[]),
            Err("Ingress public not found in namespace shop".into())
        );
    }

    #[test]
    fn a_missing_canary_ingress_is_created_and_an_owned_one_rewritten() {
        let owned = canary(json!([owner("Rollout", "web", "u1")]));
        for objects in [
            vec![(r("shop", "public"), stable("public"))],
            vec![
                (r("shop", "public"), stable("public")),
                (r("shop", "web-public-canary"), owned),
            ],
        ] {
            let writes = plan(&nginx::Nginx, &ro(), &objects).expect("planned");
            let [Write::Apply { target, object }] = writes.as_slice() else {
                panic!("one apply: {writes:?}");
            };
            assert_eq!(*target, r("shop", "web-public-canary"));
            assert_eq!(object["metadata"]["name"], "web-public-canary");
            assert_eq!(
                object["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"],
                "30"
            );
            assert_eq!(object["metadata"]["ownerReferences"][0]["uid"], "u1");
            assert_eq!(
                object["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
                "web-canary"
            );
        }
    }

    #[test]
    fn a_foreign_canary_ingress_is_not_taken_over() {
        for (owners, by) in [
            (Value::Null, "nobody (it was created outside rollout-rs)"),
            (json!([owner("Rollout", "other", "u2")]), "Rollout other"),
        ] {
            let objects = [
                (r("shop", "public"), stable("public")),
                (r("shop", "web-public-canary"), canary(owners)),
            ];
            assert_eq!(
                plan(&nginx::Nginx, &ro(), &objects),
                Err(format!(
                    "Ingress web-public-canary is owned by {by}, not by this Rollout: refusing to change it"
                ))
            );
        }
    }
}

mod of_gateway {
    use super::*;

    fn route(name: &str, stable: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "edge"}, "spec": {"rules": [{"backendRefs": [
            {"name": stable, "port": 80, "weight": 100},
            {"name": "web-canary", "port": 80, "weight": 0}
        ]}]}})
    }

    fn ro() -> Rollout {
        rollout(
            json!({"gatewayAPI": {"httpRoute": "a", "httpRoutes": [{"name": "b"}], "namespace": "edge"}}),
        )
    }

    #[test]
    fn refers_to_each_route_in_its_namespace() {
        let cx = Config::default();
        assert_eq!(
            gateway::HttpRoute.refers_to(&ro(), &cx),
            [r("edge", "a"), r("edge", "b")]
        );
        let home = rollout(json!({"gatewayAPI": {"httpRoute": "a"}}));
        assert_eq!(gateway::HttpRoute.refers_to(&home, &cx), [r("shop", "a")]);
    }

    #[test]
    fn a_missing_route_is_an_error() {
        assert_eq!(
            plan(
                &gateway::HttpRoute,
                &ro(),
                &[(r("edge", "a"), route("a", "web-stable"))]
            ),
            Err("HTTPRoute b not found in namespace edge".into())
        );
    }

    #[test]
    fn each_route_is_patched_or_refused() {
        let objects = [
            (r("edge", "a"), route("a", "web-stable")),
            (r("edge", "b"), route("b", "web-stable")),
        ];
        let writes = plan(&gateway::HttpRoute, &ro(), &objects).expect("planned");
        let targets: Vec<_> = writes
            .iter()
            .map(|w| match w {
                Write::Patch { target, ops } => {
                    assert_eq!(ops[1], json!({"op": "add", "path": "/spec/rules/0/backendRefs/0/weight", "value": 70}));
                    target.clone()
                }
                Write::Apply { .. } => panic!("a route is only patched"),
            })
            .collect();
        assert_eq!(targets, [r("edge", "a"), r("edge", "b")]);
        let elsewhere = [
            (r("edge", "a"), route("a", "web-stable")),
            (r("edge", "b"), route("b", "other")),
        ];
        assert_eq!(
            plan(&gateway::HttpRoute, &ro(), &elsewhere),
            Err("HTTPRoute b: no rule routes to the stable Service web-stable".into())
        );
    }
}

mod of_istio {
    use super::istio::{DestinationRule, VirtualService};
    use super::*;

    fn ro() -> Rollout {
        rollout(json!({"istio": {
            "virtualService": {"name": "web", "routes": ["primary"]},
            "virtualServices": [{"name": "mesh.infra"}],
            "destinationRule": {"name": "web-dr.infra", "canarySubsetName": "canary", "stableSubsetName": "stable"}
        }}))
    }

    fn vs(name: &str) -> Value {
        json!({"metadata": {"name": name}, "spec": {"http": [{"name": "primary", "route": [
            {"destination": {"host": "web", "subset": "stable"}, "weight": 100},
            {"destination": {"host": "web", "subset": "canary"}, "weight": 0}
        ]}]}})
    }

    fn dr() -> Value {
        json!({"metadata": {"name": "web-dr", "namespace": "infra"}, "spec": {"subsets": [
            {"name": "stable", "labels": {"app": "web"}},
            {"name": "canary", "labels": {"app": "web"}}
        ]}})
    }

    #[test]
    fn refers_to_each_object_by_name_or_name_dot_namespace() {
        let cx = Config::default();
        assert_eq!(
            VirtualService.refers_to(&ro(), &cx),
            [r("shop", "web"), r("infra", "mesh")]
        );
        assert_eq!(
            DestinationRule.refers_to(&ro(), &cx),
            [r("infra", "web-dr")]
        );
        let host_level = rollout(json!({"istio": {"virtualService": {"name": "web"}}}));
        assert_eq!(
            DestinationRule.refers_to(&host_level, &cx),
            Vec::<Ref>::new()
        );
    }

    #[test]
    fn missing_objects_are_errors() {
        assert_eq!(
            plan(&VirtualService, &ro(), &[(r("shop", "web"), vs("web"))]),
            Err("VirtualService mesh not found in namespace infra".into())
        );
        assert_eq!(
            plan(&DestinationRule, &ro(), &[]),
            Err("DestinationRule web-dr not found in namespace infra".into())
        );
    }

    #[test]
    fn subsets_are_weighted_and_pinned_to_the_hashes() {
        let objects = [
            (r("shop", "web"), vs("web")),
            (r("infra", "mesh"), vs("mesh")),
        ];
        let writes = plan(&VirtualService, &ro(), &objects).expect("planned");
        assert_eq!(writes.len(), 2);
        assert!(
            writes.iter().all(|w| matches!(w, Write::Patch { ops, .. }
                if ops[1] == json!({"op": "add", "path": "/spec/http/0/route/0/weight", "value": 70}))),
            "{writes:?}"
        );
        let writes =
            plan(&DestinationRule, &ro(), &[(r("infra", "web-dr"), dr())]).expect("planned");
        let [Write::Patch { target, ops }] = writes.as_slice() else {
            panic!("one patch: {writes:?}");
        };
        assert_eq!(*target, r("infra", "web-dr"));
        let mut after = dr();
        let ops: json_patch::Patch = serde_json::from_value(ops.clone()).expect("a JSON patch");
        json_patch::patch(&mut after, &ops).expect("applies");
        assert_eq!(
            after["spec"]["subsets"][0]["labels"][POD_TEMPLATE_HASH_LABEL],
            "s1"
        );
        assert_eq!(
            after["spec"]["subsets"][1]["labels"][POD_TEMPLATE_HASH_LABEL],
            "c1"
        );
        assert_eq!(
            after["metadata"]["annotations"][MANAGED_BY_ANNOTATION],
            "shop/web"
        );
    }

    #[test]
    fn a_route_or_subset_the_object_lacks_is_an_error() {
        let objects = [
            (
                r("shop", "web"),
                json!({"metadata": {"name": "web"}, "spec": {"http": []}}),
            ),
            (r("infra", "mesh"), vs("mesh")),
        ];
        assert_eq!(
            plan(&VirtualService, &ro(), &objects),
            Err("VirtualService web: no HTTP route named primary".into())
        );
        let one_subset =
            json!({"metadata": {"name": "web-dr"}, "spec": {"subsets": [{"name": "stable"}]}});
        assert_eq!(
            plan(
                &DestinationRule,
                &ro(),
                &[(r("infra", "web-dr"), one_subset)]
            ),
            Err("DestinationRule web-dr: no subset named canary".into())
        );
    }
}

mod of_smi {
    use super::smi::TrafficSplit;
    use super::*;

    fn split(owners: Value) -> Value {
        json!({"apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit",
            "metadata": {"name": "web", "namespace": "shop", "ownerReferences": owners},
            "spec": {"service": "web-stable", "backends": []}})
    }

    #[test]
    fn refers_to_the_named_split_or_the_rollouts_name() {
        let cx = Config::default();
        let ro = rollout(json!({"smi": {}}));
        assert_eq!(TrafficSplit.refers_to(&ro, &cx), [r("shop", "web")]);
        let named = rollout(json!({"smi": {"trafficSplitName": "split"}}));
        assert_eq!(TrafficSplit.refers_to(&named, &cx), [r("shop", "split")]);
    }

    #[test]
    fn a_missing_split_is_created_and_an_owned_one_applied() {
        let ro = rollout(json!({"smi": {"rootService": "web"}}));
        for objects in [
            vec![],
            vec![(
                r("shop", "web"),
                split(json!([owner("Rollout", "web", "u1")])),
            )],
        ] {
            let writes = plan(&TrafficSplit, &ro, &objects).expect("planned");
            let [Write::Apply { target, object }] = writes.as_slice() else {
                panic!("one apply: {writes:?}");
            };
            assert_eq!(*target, r("shop", "web"));
            assert_eq!(
                *object,
                json!({
                    "apiVersion": "split.smi-spec.io/v1alpha2",
                    "kind": "TrafficSplit",
                    "metadata": {"name": "web", "namespace": "shop", "ownerReferences": [
                        {"apiVersion": "rollout-rs.io/v1alpha1", "kind": "Rollout", "name": "web", "uid": "u1", "controller": true}
                    ]},
                    "spec": {"service": "web", "backends": [
                        {"service": "web-canary", "weight": 30},
                        {"service": "web-stable", "weight": 70},
                    ]},
                })
            );
        }
        let v1alpha1 = Config {
            split_api_version: "split.smi-spec.io/v1alpha1".into(),
        };
        let writes = TrafficSplit
            .plan(&ro, &v1alpha1, &want(30), &[(r("shop", "web"), None)])
            .expect("planned");
        assert!(
            matches!(&writes[..], [Write::Apply { object, .. }]
                if object["apiVersion"] == "split.smi-spec.io/v1alpha1" && object["spec"]["backends"][0]["weight"] == "30"),
            "{writes:?}"
        );
    }

    #[test]
    fn a_foreign_split_is_not_taken_over() {
        let ro = rollout(json!({"smi": {}}));
        for (owners, by) in [
            (Value::Null, "nobody (it was created outside rollout-rs)"),
            (json!([owner("Rollout", "other", "u2")]), "Rollout other"),
        ] {
            assert_eq!(
                plan(&TrafficSplit, &ro, &[(r("shop", "web"), split(owners))]),
                Err(format!(
                    "TrafficSplit web is owned by {by}, not by this Rollout: refusing to change it"
                ))
            );
        }
    }
}
