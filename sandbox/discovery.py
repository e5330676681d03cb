"""The discovery documents: ServiceProviderConfig, Schemas and ResourceTypes (from scim2-models' models,
with 6clicks' immutable userName and e-mails)."""

from __future__ import annotations

from typing import Any

from .models import M, load
from .scim import CORE_GROUP, CORE_USER, ENTERPRISE

_IMMUTABLE_USER_ATTRS = {"userName", "emails"}
# (name, description) as RFC 7643 §8.7.1 and §8.7.2 give them (scim2-models repeats the class name).
_NAMES = {CORE_USER: ("User", "User Account"), ENTERPRISE: ("EnterpriseUser", "Enterprise User"),
          CORE_GROUP: ("Group", "Group")}


def _schema_docs(base_url: str) -> list[dict[str, Any]]:
    docs = []
    for model in (M.User, M.EnterpriseUser, M.Group):
        schema = model.to_schema().model_dump(scim_ctx=M.Context.RESOURCE_QUERY_RESPONSE)
        schema["name"], schema["description"] = _NAMES.get(schema["id"], (schema.get("name"), schema.get("name")))
        if model is M.EnterpriseUser:
            for attr in schema["attributes"]:
                if attr["name"] == "manager":  # RFC 7643 §4.3: value and $ref are RECOMMENDED, not required
                    for sub in attr.get("subAttributes") or []:
                        if sub["name"] in ("value", "$ref"):
                            sub["required"] = False
        if model is M.User:
            for attr in schema["attributes"]:
                if attr["name"] in _IMMUTABLE_USER_ATTRS:
                    attr["mutability"] = "immutable"  # 6clicks keeps userName and e-mail as created
                    attr["description"] = (attr.get("description") or "") + (
                        " Set on creation; 6clicks ignores later updates.")
        schema["meta"] = {"resourceType": "Schema", "location": f"{base_url}/scim/Schemas/{schema['id']}"}
        docs.append(schema)
    return docs


def discovery(base_url: str, max_page_size: int) -> dict[str, Any]:
    load()
    schemas = _schema_docs(base_url)
    user_rt = M.ResourceType(
        id="User", name="User", endpoint="/Users", description="User Account", schema_=CORE_USER,
        schema_extensions=[M.SchemaExtension(schema_=ENTERPRISE, required=False)],
    ).model_dump(scim_ctx=M.Context.RESOURCE_QUERY_RESPONSE)
    group_rt = M.ResourceType(
        id="Group", name="Group", endpoint="/Groups", description="Group (6clicks groups and roles)",
        schema_=CORE_GROUP,
    ).model_dump(scim_ctx=M.Context.RESOURCE_QUERY_RESPONSE)
    for rt in (user_rt, group_rt):
        rt["meta"] = {"resourceType": "ResourceType", "location": f"{base_url}/scim/ResourceTypes/{rt['id']}"}
    spc = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/6clicks (sandbox; see docs/sandbox.md)",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": max_page_size},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
        "authenticationSchemes": [{
            "type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": True,
            "description": "A 6clicks access token from POST /auth-api/1.0/auth/token (API key exchange).",
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base_url}/scim/ServiceProviderConfig"},
    }
    return {"schemas": schemas, "resource_types": [user_rt, group_rt], "spc": spc}

