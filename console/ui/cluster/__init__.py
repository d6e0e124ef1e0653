"""Rollbacks and rollout controls on Kubernetes objects: roll back a Deployment (`kubectl rollout
undo`), Argo Rollouts abort / promote / promote fully / undo, Flagger canary rollback. Each is
previewed, confirmed, sent with the tool's own semantics, recorded in the audit log, verified
against the place's watch and reported (flows.ClusterActions)."""
