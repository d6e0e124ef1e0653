"""Bearer tokens and an RBAC-like rule table, used both by request authorisation and SelfSubjectAccessReview."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from .status import ApiError, qualified, unauthorized


@dataclass(frozen=True)
class Rule:
    """Allows `verbs` on `resources` (plural, or 'plural/subresource') of `groups` in `namespaces` ('*' = any).

    `namespaces=("*",)` also covers cluster-scoped requests, as a ClusterRoleBinding does.
    `name` is the binding that the SelfSubjectAccessReview reason names.
    """

    verbs: tuple[str, ...]
    groups: tuple[str, ...] = ("*",)
    resources: tuple[str, ...] = ("*",)
    namespaces: tuple[str, ...] = ("*",)
    name: str = "fake-binding"

    def allows(self, verb: str, group: str, resource: str, namespace: str) -> bool:
        def hit(values: tuple[str, ...], value: str) -> bool:
            return "*" in values or value in values

        return (
            hit(self.verbs, verb)
            and hit(self.groups, group)
            and hit(self.resources, resource)
            and ("*" in self.namespaces or (namespace != "" and namespace in self.namespaces))
        )

    def reason(self, user: str) -> str:
        if "*" in self.namespaces:
            return f'RBAC: allowed by ClusterRoleBinding "{self.name}" of ClusterRole "{self.name}" to User "{user}"'
        return f'RBAC: allowed by RoleBinding "{self.name}/{self.namespaces[0]}" of Role "{self.name}" to User "{user}"'


ALLOW_ALL = (Rule(verbs=("*",), name="cluster-admin"),)


@dataclass
class User:
    name: str
    rules: tuple[Rule, ...] = ALLOW_ALL
    expired: bool = False
    groups: tuple[str, ...] = ("system:authenticated",)


@dataclass
class Authority:
    users: dict[str, User] = field(default_factory=dict)  # by bearer token
    cert_users: dict[str, User] = field(default_factory=dict)  # by client certificate common name
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_cert_user(self, user: str, groups: tuple[str, ...] = (), rules: tuple[Rule, ...] = ALLOW_ALL) -> None:
        with self._lock:
            self.cert_users[user] = User(user, tuple(rules), groups=("system:authenticated", *groups))

    def add_token(self, token: str, user: str, rules: tuple[Rule, ...] = ALLOW_ALL, expired: bool = False) -> None:
        with self._lock:
            self.users[token] = User(user, tuple(rules), expired)

    def set_rules(self, token: str, rules: tuple[Rule, ...]) -> None:
        with self._lock:
            self.users[token].rules = tuple(rules)

    def expire(self, token: str) -> None:
        with self._lock:
            self.users[token].expired = True

    def authenticate(self, header: str | None, peercert: dict[str, Any] | None = None) -> User:
        """A bearer token, else a verified client certificate (CN = user). 401 for a missing, unknown or expired
        token and for an unknown certificate user: the API server says only 'Unauthorized' in every case."""
        if not header and peercert:
            names = [value for rdn in peercert.get("subject", ()) for key, value in rdn if key == "commonName"]
            with self._lock:
                cert_user = self.cert_users.get(names[0]) if names else None
            if cert_user is None:
                raise unauthorized()
            return cert_user
        if not header or not header.startswith("Bearer "):
            raise unauthorized()
        with self._lock:
            user = self.users.get(header[len("Bearer ") :].strip())
        if user is None or user.expired:
            raise unauthorized()
        return user

    @staticmethod
    def decide(user: User, verb: str, group: str, resource: str, namespace: str) -> tuple[bool, str]:
        for rule in user.rules:
            if rule.allows(verb, group, resource, namespace):
                return True, rule.reason(user.name)
        return False, ""

    def authorize(
        self, user: User, verb: str, group: str, plural: str, subresource: str, namespace: str, name: str
    ) -> None:
        resource = f"{plural}/{subresource}" if subresource else plural
        allowed, _ = self.decide(user, verb, group, resource, namespace)
        if allowed:
            return
        target = qualified(plural, group) + (f' "{name}"' if name else "")
        scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        message = (
            f'{target} is forbidden: User "{user.name}" cannot {verb} resource "{resource}" '
            f'in API group "{group}" {scope}'
        )
        details: dict[str, Any] = {"name": name} if name else {}
        if group:
            details["group"] = group
        details["kind"] = plural
        raise ApiError(403, "Forbidden", message, details)

    def review(self, user: User, review: dict[str, Any]) -> dict[str, Any]:
        """Fill `status` of a SelfSubjectAccessReview (authorization.k8s.io/v1)."""
        spec = review.get("spec") or {}
        attrs = spec.get("resourceAttributes")
        if attrs is None:
            if spec.get("nonResourceAttributes") is None:
                raise ApiError(
                    422,
                    "Invalid",
                    'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: '
                    'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes '
                    "must be specified",
                    {"group": "authorization.k8s.io", "kind": "SelfSubjectAccessReview"},
                )
            allowed, reason = True, "non-resource URLs are allowed for authenticated users"
        else:
            resource = attrs.get("resource", "")
            if attrs.get("subresource"):
                resource = f"{resource}/{attrs['subresource']}"
            allowed, reason = self.decide(
                user, attrs.get("verb", ""), attrs.get("group", ""), resource, attrs.get("namespace", "")
            )
        result: dict[str, Any] = {"allowed": allowed}
        if reason:
            result["reason"] = reason
        return {
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": spec,
            "status": result,
        }
