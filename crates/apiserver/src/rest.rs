//! The REST semantics of one resource: get, list, create, update, patch, delete — each a
//! read from the watch cache or a compare-and-swap against the store, with kube-apiserver's
//! defaulting, validation, metadata rules and errors.

use std::sync::Arc;
use std::time::Duration;

use api::error::{ApiError, FieldError};
use bytes::Bytes;
use serde_json::{Value, json};
use store::{Revision, Store};

use crate::alloc::Allocator;
use crate::cache::{Cache, set_rv};
use crate::object::{self, meta_mut};
use crate::registry::{Registry, Served};
use crate::request::Query;

/// The largest object the store accepts (etcd's request limit).
pub const MAX_OBJECT_BYTES: usize = store::MAX_VALUE_BYTES;
/// The largest request body (kube-apiserver's 3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Everything a request handler needs.
#[derive(Debug)]
pub struct Api {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The watch cache over it.
    pub cache: Arc<Cache>,
    /// Served resources.
    pub registry: Registry,
    /// Cluster IPs and node ports.
    pub alloc: Allocator,
}

/// How unknown fields are treated (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    /// Dropped silently.
    Ignore,
    /// Dropped with a warning.
    Warn,
    /// Rejected with 400.
    Strict,
}

/// Options every write carries.
#[derive(Debug, Clone)]
pub struct WriteOpts {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `fieldManager`.
    pub manager: String,
    /// `fieldValidation`.
    pub validation: FieldValidation,
    /// Warnings to send back (`Warning:` headers).
    pub warnings: Arc<std::sync::Mutex<Vec<String>>>,
    /// A server-side apply: managed fields are computed by the apply itself.
    pub apply: bool,
}

impl WriteOpts {
    /// Options from the query; `agent` is the User-Agent (the default field manager is its
    /// program name, as upstream).
    pub fn from_query(q: &Query, agent: &str) -> Result<WriteOpts, ApiError> {
        let dry_run = match q.get("dryRun") {
            None | Some("") => false,
            Some("All") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid dryRun: [{other}]: supported values: \"All\""
                )));
            }
        };
        let validation = match q.get("fieldValidation") {
            None | Some("") | Some("Warn") => FieldValidation::Warn,
            Some("Strict") => FieldValidation::Strict,
            Some("Ignore") => FieldValidation::Ignore,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "fieldValidation parameter unsupported: {other}. Supported values: Ignore, Warn, Strict"
                )));
            }
        };
        let manager = match q.non_empty("fieldManager") {
            Some(m) => {
                if m.len() > 128 {
                    return Err(ApiError::bad_request(
                        "fieldManager: Too long: must have at most 128 bytes",
                    ));
                }
                m.to_string()
            }
            None => agent
                .split('/')
                .next()
                .filter(|s| !s.is_empty())
                .unwrap_or("unknown")
                .to_string(),
        };
        Ok(WriteOpts {
            dry_run,
            manager,
            validation,
            warnings: Arc::default(),
            apply: false,
        })
    }

    /// Options for the server's own writes (garbage collector, namespace controller).
    pub fn system(manager: &str) -> WriteOpts {
        WriteOpts {
            dry_run: false,
            manager: manager.to_string(),
            validation: FieldValidation::Ignore,
            warnings: Arc::default(),
            apply: false,
        }
    }

    /// Adds a warning for the client.
    pub fn warn(&self, w: String) {
        self.warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(w);
    }
}

/// Whether kube-apiserver keeps `metadata.generation` for this kind (kinds with a spec that
/// controllers observe).
fn has_generation(s: &Served) -> bool {
    if s.is_custom() {
        return true;
    }
    matches!(
        (s.resource.group.as_str(), s.resource.kind.as_str()),
        ("apps", _)
            | ("batch", _)
            | ("autoscaling", _)
            | ("policy", "PodDisruptionBudget")
            | ("networking.k8s.io", "Ingress" | "NetworkPolicy")
            | ("apiextensions.k8s.io", _)
    )
}

fn gvk_string(s: &Served) -> String {
    s.resource.api_version()
}

/// Parses a request body as JSON or YAML (by Content-Type; JSON when unsure).
pub fn parse_body(body: &[u8], content_type: &str) -> Result<Value, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::too_large(MAX_BODY_BYTES));
    }
    let media = content_type.split(';').next().unwrap_or("").trim();
    if api::protobuf::is_protobuf(content_type) {
        // kubectl's typed commands (`create configmap`, `create deployment`, …) send these.
        return api::protobuf::decode(body).map_err(|e| {
            ApiError::bad_request(format!("error decoding the protobuf request body: {e}"))
        });
    }
    if media.contains("protobuf") || media.contains("cbor") {
        // Clients fall back to JSON on a 415 (client-go remembers it for the rest of the run).
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {media})"
            ),
        ));
    }
    let yaml = content_type.contains("yaml");
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if !yaml || matches!(first, Some(b'{') | Some(b'[')) {
        match serde_json::from_slice::<Value>(body) {
            Ok(v) => return Ok(v),
            Err(e) if !yaml => {
                return Err(ApiError::bad_request(format!(
                    "error decoding request body: {e}"
                )));
            }
            Err(_) => {}
        }
    }
    serde_yaml::from_slice::<Value>(body)
        .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: yaml: {e}")))
}

impl Api {
    /// The Services in the cache (for allocation).
    pub(crate) fn services(&self) -> Vec<Value> {
        let prefix = api::resource::find_builtin("", "v1", "services")
            .map(|r| r.key_prefix())
            .unwrap_or_default();
        self.cache
            .list(&prefix, None, 0, |_| true)
            .0
            .items
            .into_iter()
            .map(|(_, e)| (*e.obj).clone())
            .collect()
    }

    /// Checks `obj`'s fields against its schema: unknown fields per `fieldValidation`, wrong
    /// types always; then drops unknown fields.
    fn check_schema(&self, s: &Served, obj: &mut Value, opts: &WriteOpts) -> Result<(), ApiError> {
        let schemas = self.registry.schemas();
        let Some(schema) = s
            .schema_name
            .as_deref()
            .and_then(|n| schemas.get(n))
            .cloned()
        else {
            return Ok(());
        };
        let kind = &s.resource.kind;
        let version = &s.resource.version;
        use api::schema::validate::{Mode, decode_error, strict_error, validate};
        let mode = if s.is_custom() {
            Mode::Custom
        } else {
            Mode::BuiltIn
        };
        let report = validate(&schemas, &schema, obj, mode);
        if s.is_custom() && !report.errors.is_empty() {
            return Err(ApiError::invalid(
                &s.resource.group,
                kind,
                object::name(obj),
                &report.errors,
            ));
        }
        if let Some(e) = decode_error(kind, version, &report) {
            return Err(e);
        }
        match opts.validation {
            FieldValidation::Strict => {
                if let Some(e) = strict_error(kind, version, &report.unknown, &[]) {
                    return Err(e);
                }
            }
            FieldValidation::Warn => {
                for w in api::schema::validate::strict_messages(&report.unknown, &[]) {
                    opts.warn(w);
                }
            }
            FieldValidation::Ignore => {}
        }
        api::schema::validate::prune(&schemas, &schema, obj);
        Ok(())
    }

    fn expect_type(&self, s: &Served, obj: &mut Value) -> Result<(), ApiError> {
        let r = &s.resource;
        let want = r.api_version();
        if !obj.is_object() {
            return Err(ApiError::bad_request(format!(
                "the body of the request must be a JSON object, not {}",
                truncate(&obj.to_string(), 100)
            )));
        }
        // A body without apiVersion or kind is the endpoint's type (typed clients, such as
        // Python's, leave them out).
        if obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            obj["apiVersion"] = json!(want);
        }
        if obj
            .get("kind")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            obj["kind"] = json!(r.kind);
        }
        let av = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        if av != want {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want})"
            )));
        }
        if kind != r.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                r.kind
            )));
        }
        Ok(())
    }

    /// Reads one object from the store (the newest).
    pub async fn read(
        &self,
        s: &Served,
        ns: Option<&str>,
        name: &str,
    ) -> Result<(Value, Revision), ApiError> {
        let key = s.resource.key(ns, name);
        let kv = self
            .store
            .get(&key)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ApiError::not_found(&s.resource.group, &s.resource.plural, name))?;
        let mut v: Value = serde_json::from_slice(&kv.value).map_err(ApiError::internal)?;
        set_rv(&mut v, kv.mod_revision);
        Ok((v, kv.mod_revision))
    }

    /// GET of one object, from the cache when it is current enough.
    pub async fn get(
        &self,
        s: &Served,
        ns: Option<&str>,
        name: &str,
        q: &Query,
    ) -> Result<Value, ApiError> {
        let key = s.resource.key(ns, name);
        match q.non_empty("resourceVersion") {
            Some(_) => {}
            None => {
                let rev = self.store.current_revision().await.map_err(store_error)?;
                self.cache.wait_for(rev, Duration::from_secs(3)).await;
            }
        }
        match self.cache.get(&key) {
            Some(e) => Ok((*e.obj).clone()),
            None => Err(ApiError::not_found(
                &s.resource.group,
                &s.resource.plural,
                name,
            )),
        }
    }

    async fn namespace_allows_create(&self, ns: &str) -> Result<(), ApiError> {
        let key = format!("/registry/namespaces/{ns}");
        let found = match self.cache.get(&key) {
            Some(e) => Some(e.obj),
            None => match self.store.get(&key).await.map_err(store_error)? {
                Some(kv) => serde_json::from_slice::<Value>(&kv.value)
                    .ok()
                    .map(Arc::new),
                None => None,
            },
        };
        match found {
            None => Err(ApiError::not_found("", "namespaces", ns)),
            Some(n) if object::deleting(&n) => Err(ApiError::forbidden(
                "",
                "namespaces",
                ns,
                &format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ),
            )
            .with_message(format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ))),
            Some(_) => Ok(()),
        }
    }

    /// POST: creates `obj` in `ns`.
    pub async fn create(
        &self,
        s: &Served,
        ns: Option<&str>,
        mut obj: Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let r = &s.resource;
        self.expect_type(s, &mut obj)?;
        if !obj.get("metadata").is_none_or(Value::is_object) {
            return Err(ApiError::bad_request("metadata must be an object"));
        }
        // Namespace from the URL; a different one in the body is an error.
        if r.namespaced {
            let url_ns = ns.unwrap_or("");
            match object::namespace(&obj) {
                Some(body_ns) if body_ns != url_ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    meta_mut(&mut obj).insert("namespace".into(), json!(url_ns));
                }
            }
        } else {
            meta_mut(&mut obj).remove("namespace");
        }
        if object::meta_str(&obj, "resourceVersion").is_some_and(|v| !v.is_empty()) {
            return Err(ApiError::internal(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        self.check_schema(s, &mut obj, opts)?;
        // generateName.
        if object::name(&obj).is_empty()
            && let Some(prefix) = object::meta_str(&obj, "generateName").map(str::to_string)
            && !prefix.is_empty()
        {
            let name = format!("{prefix}{}", random_suffix());
            meta_mut(&mut obj).insert("name".into(), json!(name));
        }
        if object::name(&obj).is_empty() {
            return Err(ApiError::invalid(
                &r.group,
                &r.kind,
                "",
                &[FieldError::required(
                    "metadata.name",
                    "name or generateName is required",
                )],
            ));
        }
        let name = object::name(&obj).to_string();
        if r.namespaced {
            self.namespace_allows_create(ns.unwrap_or("")).await?;
        }
        {
            let m = meta_mut(&mut obj);
            m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            m.insert("creationTimestamp".into(), json!(object::now()));
            m.remove("deletionTimestamp");
            m.remove("deletionGracePeriodSeconds");
            m.remove("selfLink");
            if has_generation(s) {
                m.insert("generation".into(), json!(1));
            } else {
                m.remove("generation");
            }
        }
        if !s.is_custom() && r.group.is_empty() && r.kind == "Secret" {
            merge_string_data(&mut obj);
        }
        if !s.is_custom() {
            api::defaults::apply(&r.group, &r.kind, &mut obj);
        }
        if r.group == "apiextensions.k8s.io" && r.kind == "CustomResourceDefinition" {
            api::schema::crd::default_crd(&mut obj);
        }
        // Managed fields are what the client sent, defaulted (kube-apiserver records them
        // before admission and before the server fills status or allocates addresses).
        let schemas = self.registry.schemas();
        let schema = s.schema_name.as_deref().and_then(|n| schemas.get(n));
        if !opts.apply {
            api::patch::track_update(
                &schemas,
                schema,
                None,
                &mut obj,
                &opts.manager,
                &gvk_string(s),
                None,
                &object::now(),
            );
        }
        if !s.is_custom() {
            api::defaults::admit(&r.group, &r.kind, &mut obj);
        }
        prepare_create_status(s, &mut obj);
        let mut errors = if s.is_custom() {
            api::validate::validate_create("", "", r.namespaced, &obj)
        } else {
            api::validate::validate_create(&r.group, &r.kind, r.namespaced, &obj)
        };
        if r.group == "apiextensions.k8s.io" && r.kind == "CustomResourceDefinition" {
            errors.extend(api::schema::crd::validate_crd(&obj));
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(&r.group, &r.kind, &name, &errors));
        }
        let held = if r.group.is_empty() && r.kind == "Service" {
            // An existing Service is AlreadyExists, not an allocation failure.
            if self.cache.get(&r.key(ns, &name)).is_some() {
                return Err(ApiError::already_exists(&r.group, &r.plural, &name));
            }
            Some(self.allocate_service(s, ns, &name, &mut obj, opts).await?)
        } else {
            None
        };
        let result = self.commit_create(s, ns, &name, obj, opts).await;
        if let Some(held) = held {
            if let Ok(created) = &result
                && let Some(rev) = rv_of(created)
            {
                self.cache.wait_for(rev, Duration::from_secs(5)).await;
            }
            self.alloc.release(held);
        }
        result
    }

    async fn commit_create(
        &self,
        s: &Served,
        ns: Option<&str>,
        name: &str,
        mut obj: Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let r = &s.resource;
        let key = r.key(ns, name);
        let bytes = encode(&obj)?;
        if opts.dry_run {
            if self.cache.get(&key).is_some() {
                return Err(ApiError::already_exists(&r.group, &r.plural, name));
            }
            return Ok(obj);
        }
        match self.store.create(&key, bytes).await {
            Ok(kv) => {
                set_rv(&mut obj, kv.mod_revision);
                Ok(obj)
            }
            Err(store::Error::AlreadyExists { .. }) => {
                Err(ApiError::already_exists(&r.group, &r.plural, name))
            }
            Err(e) => Err(store_error(e)),
        }
    }

    /// The guaranteed-update loop behind PUT, PATCH and the server's own updates: reads the
    /// object, asks `mutate` for the new one, and writes it if nobody wrote in between
    /// (retrying otherwise). `mutate` sees `None` when the object does not exist; it returns
    /// the desired object and whether a stale resourceVersion must fail (it checks that
    /// itself against the current object). Returns the result and whether it was created.
    pub async fn update_with<F>(
        &self,
        s: &Served,
        ns: Option<&str>,
        name: &str,
        sub: Option<&str>,
        opts: &WriteOpts,
        mut mutate: F,
    ) -> Result<(Value, bool), ApiError>
    where
        F: FnMut(Option<&Value>) -> Result<Value, ApiError>,
    {
        let r = &s.resource;
        for _attempt in 0..64 {
            let key = r.key(ns, name);
            let current = match self.store.get(&key).await.map_err(store_error)? {
                Some(kv) => {
                    let mut v: Value =
                        serde_json::from_slice(&kv.value).map_err(ApiError::internal)?;
                    set_rv(&mut v, kv.mod_revision);
                    Some((v, kv.mod_revision))
                }
                None => None,
            };
            let Some((old, rev)) = current else {
                let desired = mutate(None)?;
                return self.create(s, ns, desired, opts).await.map(|v| (v, true));
            };
            let mut new = mutate(Some(&old))?;
            // A resourceVersion in the new object must be the current one.
            if let Some(want) = object::meta_str(&new, "resourceVersion").filter(|v| !v.is_empty())
            {
                if want != rev.to_string() {
                    return Err(ApiError::stale(&r.group, &r.plural, name));
                }
            }
            self.prepare_update(s, sub, &old, &mut new, opts)?;
            if object::comparable(&new) == object::comparable(&old) {
                return Ok((old, false));
            }
            let held = if r.group.is_empty() && r.kind == "Service" && sub.is_none() {
                let existing = self.services();
                Some(
                    self.alloc
                        .allocate_update(&old, &mut new, &existing)
                        .map_err(|e| ApiError::invalid(&r.group, &r.kind, name, &e))?,
                )
            } else {
                None
            };
            // Removing the last finalizer of an object being deleted deletes it.
            let finished = object::deleting(&new)
                && object::finalizers(&new).is_empty()
                && spec_finalizers(&new).is_empty()
                && (!(r.group.is_empty() && r.kind == "Pod")
                    || new["metadata"]["deletionGracePeriodSeconds"].as_i64() == Some(0));
            if opts.dry_run {
                if let Some(h) = held {
                    self.alloc.release(h);
                }
                return Ok((new, false));
            }
            let result = if finished {
                match self.store.delete(&key, Some(rev)).await {
                    Ok((_, drev)) => {
                        self.release_claims(s, &new).await;
                        set_rv(&mut new, drev);
                        Ok(new)
                    }
                    Err(e) => Err(e),
                }
            } else {
                let bytes = encode(&new)?;
                match self.store.update(&key, bytes, rev).await {
                    Ok(kv) => {
                        set_rv(&mut new, kv.mod_revision);
                        Ok(new)
                    }
                    Err(e) => Err(e),
                }
            };
            if let Some(h) = held {
                if let Ok(v) = &result
                    && let Some(rev) = rv_of(v)
                {
                    self.cache.wait_for(rev, Duration::from_secs(5)).await;
                }
                self.alloc.release(h);
            }
            match result {
                Ok(v) => return Ok((v, false)),
                Err(store::Error::Conflict { .. }) | Err(store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(ApiError::conflict(
            &r.group,
            &r.plural,
            name,
            "the object kept changing; giving up after 64 attempts",
        ))
    }

    /// Carries over what an update may not change, resets what it must not set, bumps the
    /// generation, defaults and validates.
    fn prepare_update(
        &self,
        s: &Served,
        sub: Option<&str>,
        old: &Value,
        new: &mut Value,
        opts: &WriteOpts,
    ) -> Result<(), ApiError> {
        let r = &s.resource;
        let name = object::name(old).to_string();
        if new.get("apiVersion").is_none() {
            new["apiVersion"] = json!(r.api_version());
        }
        if new.get("kind").is_none() {
            new["kind"] = json!(r.kind);
        }
        self.expect_type(s, new)?;
        let new_name = object::name(new);
        if !new_name.is_empty() && new_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({new_name}) does not match the name on the URL ({name})"
            )));
        }
        if r.namespaced
            && let Some(nns) = object::namespace(new)
            && Some(nns) != object::namespace(old)
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        if let Some(u) = object::meta_str(new, "uid").filter(|u| !u.is_empty())
            && u != object::uid(old)
        {
            return Err(ApiError::conflict(
                &r.group,
                &r.plural,
                &name,
                &format!(
                    "Precondition failed: UID in precondition: {u}, UID in object meta: {}",
                    object::uid(old)
                ),
            ));
        }
        match sub {
            Some("status") => {
                // Only status changes through /status.
                let status = new.get("status").cloned();
                let managed = new["metadata"].get("managedFields").cloned();
                *new = old.clone();
                match status {
                    Some(st) => new["status"] = st,
                    None => {
                        if let Some(m) = new.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
                if let Some(mf) = managed {
                    meta_mut(new).insert("managedFields".into(), mf);
                }
            }
            Some("finalize") => {
                let fin = new["spec"]["finalizers"].clone();
                *new = old.clone();
                new["spec"]["finalizers"] = fin;
            }
            _ => {
                self.check_schema(s, new, opts)?;
                if r.has_status()
                    || s.is_custom() && s.custom.as_ref().is_some_and(|c| c.resource.has_status())
                {
                    match old.get("status") {
                        Some(st) => new["status"] = st.clone(),
                        None => {
                            if let Some(m) = new.as_object_mut() {
                                m.remove("status");
                            }
                        }
                    }
                }
            }
        }
        {
            let om = old["metadata"].as_object().cloned().unwrap_or_default();
            let m = meta_mut(new);
            for f in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ] {
                match om.get(f) {
                    Some(v) => {
                        m.insert(f.into(), v.clone());
                    }
                    None => {
                        m.remove(f);
                    }
                }
            }
            if !m.contains_key("managedFields")
                && let Some(mf) = om.get("managedFields")
            {
                m.insert("managedFields".into(), mf.clone());
            }
            m.remove("selfLink");
        }
        if !s.is_custom() && r.group.is_empty() && r.kind == "Secret" {
            merge_string_data(new);
        }
        if object::deleting(old) {
            // Finalizers can only be removed from an object being deleted.
            let before = object::finalizers(old);
            let added: Vec<String> = object::finalizers(new)
                .into_iter()
                .filter(|f| !before.contains(f))
                .collect();
            if !added.is_empty() {
                return Err(ApiError::invalid(
                    &r.group,
                    &r.kind,
                    &name,
                    &[FieldError::forbidden(
                        "metadata.finalizers",
                        format!(
                            "no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
                        ),
                    )],
                ));
            }
        }
        if !s.is_custom() {
            api::defaults::apply(&r.group, &r.kind, new);
        }
        if r.group == "apiextensions.k8s.io" && r.kind == "CustomResourceDefinition" {
            api::schema::crd::default_crd(new);
        }
        if has_generation(s) && object::spec_part(new) != object::spec_part(old) {
            let g = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            meta_mut(new).insert("generation".into(), json!(g));
        }
        let errors = if s.is_custom() {
            api::validate::validate_update("", "", r.namespaced, old, new)
        } else {
            api::validate::validate_update(&r.group, &r.kind, r.namespaced, old, new)
        };
        let mut errors = errors;
        if r.group == "apiextensions.k8s.io"
            && r.kind == "CustomResourceDefinition"
            && sub.is_none()
        {
            errors.extend(api::schema::crd::validate_crd(new));
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(&r.group, &r.kind, &name, &errors));
        }
        let schemas = self.registry.schemas();
        let schema = s.schema_name.as_deref().and_then(|n| schemas.get(n));
        if !opts.apply {
            api::patch::track_update(
                &schemas,
                schema,
                Some(old),
                new,
                &opts.manager,
                &gvk_string(s),
                sub,
                &object::now(),
            );
        }
        Ok(())
    }

    /// DELETE of one object with `DeleteOptions`. Returns the object when its deletion is
    /// pending (graceful or finalizers: 202) or a Status / the object when it is gone (200).
    pub async fn delete(
        &self,
        s: &Served,
        ns: Option<&str>,
        name: &str,
        options: &Value,
        opts: &WriteOpts,
    ) -> Result<(Value, bool), ApiError> {
        let r = &s.resource;
        let policy = match options.get("propagationPolicy").and_then(Value::as_str) {
            Some(p @ ("Background" | "Foreground" | "Orphan")) => Some(p.to_string()),
            Some(other) => {
                return Err(ApiError::invalid(
                    "",
                    "DeleteOptions",
                    "",
                    &[FieldError::not_supported(
                        "propagationPolicy",
                        json!(other),
                        &["Foreground", "Background", "Orphan", "nil"],
                    )],
                ));
            }
            None => match options.get("orphanDependents").and_then(Value::as_bool) {
                Some(true) => Some("Orphan".to_string()),
                Some(false) => Some("Background".to_string()),
                None => None,
            },
        };
        let grace = options.get("gracePeriodSeconds").and_then(Value::as_i64);
        for _attempt in 0..64 {
            let (mut obj, rev) = self.read(s, ns, name).await?;
            if let Some(pre) = options.get("preconditions") {
                if let Some(u) = pre.get("uid").and_then(Value::as_str)
                    && u != object::uid(&obj)
                {
                    return Err(ApiError::conflict(
                        &r.group,
                        &r.plural,
                        name,
                        &format!(
                            "Precondition failed: UID in precondition: {u}, UID in object meta: {}",
                            object::uid(&obj)
                        ),
                    ));
                }
                if let Some(v) = pre.get("resourceVersion").and_then(Value::as_str)
                    && v != rev.to_string()
                {
                    return Err(ApiError::conflict(
                        &r.group,
                        &r.plural,
                        name,
                        &format!(
                            "Precondition failed: ResourceVersion in precondition: {v}, ResourceVersion in object meta: {rev}"
                        ),
                    ));
                }
            }
            let mut fins = object::finalizers(&obj);
            let was_deleting = object::deleting(&obj);
            match policy.as_deref() {
                Some("Orphan") => {
                    fins.retain(|f| f != "foregroundDeletion");
                    if !fins.iter().any(|f| f == "orphan") {
                        fins.push("orphan".into());
                    }
                }
                Some("Foreground") => {
                    fins.retain(|f| f != "orphan");
                    if !fins.iter().any(|f| f == "foregroundDeletion") {
                        fins.push("foregroundDeletion".into());
                    }
                }
                Some(_) => fins.retain(|f| f != "orphan" && f != "foregroundDeletion"),
                None => {}
            }
            // Graceful deletion: pods bound to a node wait for their node agent.
            let pod_grace = if r.group.is_empty() && r.kind == "Pod" {
                let bound = obj["spec"]["nodeName"]
                    .as_str()
                    .is_some_and(|n| !n.is_empty());
                let terminal = matches!(
                    obj["status"]["phase"].as_str(),
                    Some("Succeeded" | "Failed")
                );
                let g = grace
                    .or_else(|| obj["spec"]["terminationGracePeriodSeconds"].as_i64())
                    .unwrap_or(30)
                    .max(0);
                if bound && !terminal && g > 0 { g } else { 0 }
            } else {
                0
            };
            let pending_ns =
                r.group.is_empty() && r.kind == "Namespace" && !spec_finalizers(&obj).is_empty();
            if fins.is_empty() && pod_grace == 0 && !pending_ns {
                if opts.dry_run {
                    return Ok((obj, true));
                }
                match self.store.delete(&r.key(ns, name), Some(rev)).await {
                    Ok((_, drev)) => {
                        self.release_claims(s, &obj).await;
                        set_rv(&mut obj, drev);
                        let status = json!({
                            "kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Success",
                            "details": {"name": name, "group": r.group, "kind": r.plural, "uid": object::uid(&obj)},
                        });
                        return Ok((if r.kind == "Pod" { obj } else { status }, true));
                    }
                    Err(store::Error::Conflict { .. }) | Err(store::Error::NotFound { .. }) => {
                        continue;
                    }
                    Err(e) => return Err(store_error(e)),
                }
            }
            // The deletion is pending: mark the object.
            if was_deleting
                && fins == object::finalizers(&obj)
                && (pod_grace == 0
                    || obj["metadata"]["deletionGracePeriodSeconds"]
                        .as_i64()
                        .is_some_and(|g| g <= pod_grace))
            {
                return Ok((obj, false));
            }
            object::set_finalizers(&mut obj, &fins);
            {
                let m = meta_mut(&mut obj);
                if !was_deleting || pod_grace > 0 {
                    m.insert(
                        "deletionTimestamp".into(),
                        json!(if pod_grace > 0 {
                            object::in_secs(pod_grace)
                        } else {
                            object::now()
                        }),
                    );
                }
                m.insert("deletionGracePeriodSeconds".into(), json!(pod_grace));
            }
            if pending_ns {
                obj["status"]["phase"] = json!("Terminating");
            }
            if opts.dry_run {
                return Ok((obj, false));
            }
            let bytes = encode(&obj)?;
            match self.store.update(&r.key(ns, name), bytes, rev).await {
                Ok(kv) => {
                    set_rv(&mut obj, kv.mod_revision);
                    return Ok((obj, false));
                }
                Err(store::Error::Conflict { .. }) | Err(store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(ApiError::conflict(
            &r.group,
            &r.plural,
            name,
            "the object kept changing",
        ))
    }
}

/// A Secret's write-only `stringData` goes into `data`, base64-encoded, winning over `data`
/// (what the v1 conversion does).
fn merge_string_data(obj: &mut Value) {
    use base64::Engine as _;
    let Some(sd) = obj.as_object_mut().and_then(|m| m.remove("stringData")) else {
        return;
    };
    if let Some(map) = sd.as_object() {
        if !obj.get("data").is_some_and(Value::is_object) {
            obj["data"] = json!({});
        }
        for (k, v) in map {
            let text = v.as_str().unwrap_or("");
            obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(text));
        }
    }
}

/// A namespace's `spec.finalizers`.
pub fn spec_finalizers(obj: &Value) -> Vec<String> {
    if obj.get("kind").and_then(Value::as_str) != Some("Namespace") {
        return vec![];
    }
    api::value::strings(obj["spec"].get("finalizers"))
}

/// Status as a create leaves it: controllers own status, so a new object starts without one
/// (pods start Pending).
fn prepare_create_status(s: &Served, obj: &mut Value) {
    let r = &s.resource;
    let reset = s.custom.as_ref().is_some_and(|c| c.resource.has_status())
        || (!s.is_custom()
            && r.has_status()
            && !matches!(
                r.kind.as_str(),
                "Namespace" | "Node" | "PersistentVolume" | "CustomResourceDefinition"
            ));
    if reset && let Some(m) = obj.as_object_mut() {
        m.remove("status");
    }
    if !s.is_custom() && r.group.is_empty() && r.kind == "Pod" {
        obj["status"] = json!({"phase": "Pending", "qosClass": qos_class(obj)});
    }
    if !s.is_custom() && r.group.is_empty() && r.kind == "PersistentVolumeClaim" {
        obj["status"] = json!({"phase": "Pending"});
    }
    if !s.is_custom() && r.group.is_empty() && r.kind == "PersistentVolume" {
        obj["status"] = json!({"phase": "Pending"});
    }
}

/// The pod's QoS class from its containers' requests and limits.
fn qos_class(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|f| pod["spec"][f].as_array())
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &containers {
        let req = c["resources"]["requests"].as_object();
        let lim = c["resources"]["limits"].as_object();
        if req.is_some_and(|r| !r.is_empty()) || lim.is_some_and(|l| !l.is_empty()) {
            any = true;
        }
        for res in ["cpu", "memory"] {
            let l = lim.and_then(|l| l.get(res));
            let r = req.and_then(|r| r.get(res)).or(l);
            if l.is_none() || r != l {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn rv_of(v: &Value) -> Option<Revision> {
    object::meta_str(v, "resourceVersion")?.parse().ok()
}

fn encode(obj: &Value) -> Result<Bytes, ApiError> {
    let mut stored = obj.clone();
    if let Some(m) = stored.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    let bytes = serde_json::to_vec(&stored).map_err(ApiError::internal)?;
    if bytes.len() > MAX_OBJECT_BYTES {
        return Err(ApiError::new(
            413,
            "RequestEntityTooLarge",
            format!(
                "Request entity too large: the object is {} bytes, more than the limit of {MAX_OBJECT_BYTES} bytes",
                bytes.len()
            ),
        ));
    }
    Ok(Bytes::from(bytes))
}

/// Maps a store failure to an API error.
pub fn store_error(e: store::Error) -> ApiError {
    match e {
        store::Error::Compacted {
            requested,
            compacted,
        } => ApiError::expired(format!(
            "too old resource version: {requested} ({compacted})"
        )),
        store::Error::TooLarge { .. } => ApiError::new(
            413,
            "RequestEntityTooLarge",
            "Request entity too large: etcdserver: request is too large",
        ),
        other => ApiError::internal(other),
    }
}

/// Five random characters as `generateName` appends them (no vowels, no ambiguous digits).
fn random_suffix() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

trait WithMessage {
    fn with_message(self, m: String) -> Self;
}

impl WithMessage for ApiError {
    fn with_message(mut self, m: String) -> Self {
        self.message = m;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An API whose watch cache never ran: it stands for a server that has not yet seen
    /// what another server sharing its store just wrote.
    fn blind_api(dir: &std::path::Path) -> Api {
        let store = store::sqlite::SqliteStore::open(&dir.join("state.db")).expect("store");
        Api {
            store: Arc::new(store),
            cache: Cache::new(crate::cache::Retention::default()),
            registry: Registry::new(),
            alloc: Allocator::new("10.96.0.0/29").expect("cidr"),
        }
    }

    #[tokio::test]
    async fn claims_stop_an_address_another_server_holds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = blind_api(dir.path());
        let svc = api.registry.find("", "v1", "services").expect("services");
        let opts = WriteOpts::system("test");
        // "Another server" created Service a with 10.96.0.5 and claimed it.
        let a = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "a", "namespace": "default", "uid": "uid-a"},
            "spec": {"clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.5"], "ports": [{"port": 80}]}});
        api.store
            .create(
                &svc.resource.key(Some("default"), "a"),
                encode(&a).expect("encode"),
            )
            .await
            .expect("service a");
        let claim = json!({"service": svc.resource.key(Some("default"), "a"), "uid": "uid-a"});
        let ip: std::net::Ipv4Addr = "10.96.0.5".parse().expect("ip");
        api.store
            .create(
                &crate::alloc::ip_claim_key(&ip),
                Bytes::from(claim.to_string()),
            )
            .await
            .expect("claim");
        // This server's cache knows nothing of it, yet asking for the address fails…
        let mut b = json!({"metadata": {"name": "b", "uid": "uid-b"},
            "spec": {"clusterIP": "10.96.0.5", "ports": [{"port": 80}]}});
        let err = api
            .allocate_service(&svc, Some("default"), "b", &mut b, &opts)
            .await
            .expect_err("the address is held");
        assert!(
            err.message.contains("provided IP is already allocated"),
            "{err}"
        );
        // …and chosen addresses avoid it: the /29 has 10.96.0.2–.6 to give, .5 is held.
        let mut got = Vec::new();
        for i in 0..4 {
            let mut c = json!({"metadata": {"name": format!("c{i}"), "uid": format!("uid-c{i}")},
                "spec": {"ports": [{"port": 80}]}});
            let held = api
                .allocate_service(&svc, Some("default"), &format!("c{i}"), &mut c, &opts)
                .await
                .expect("a free address");
            // Written as a create would, so its claim stays live.
            api.store
                .create(
                    &svc.resource.key(Some("default"), &format!("c{i}")),
                    encode(&c).expect("encode"),
                )
                .await
                .expect("service c");
            got.push(c["spec"]["clusterIP"].as_str().expect("ip").to_string());
            api.alloc.release(held);
        }
        got.sort();
        assert_eq!(got, ["10.96.0.2", "10.96.0.3", "10.96.0.4", "10.96.0.6"]);
        // A claim whose Service is gone is taken over.
        api.store
            .delete(&svc.resource.key(Some("default"), "a"), None)
            .await
            .expect("delete a");
        let mut d = json!({"metadata": {"name": "d", "uid": "uid-d"},
            "spec": {"clusterIP": "10.96.0.5", "ports": [{"port": 80}]}});
        api.allocate_service(&svc, Some("default"), "d", &mut d, &opts)
            .await
            .expect("a stale claim is taken over");
        let kv = api
            .store
            .get(&crate::alloc::ip_claim_key(&ip))
            .await
            .expect("get")
            .expect("claim");
        let holder: Value = serde_json::from_slice(&kv.value).expect("json");
        assert_eq!(holder["uid"], "uid-d");
    }
}
