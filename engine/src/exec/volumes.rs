//! A Task's `volumes` and the `volumeMounts` of its steps and sidecars, as host
//! directories that a container runner mounts where the step asks.
//!
//! Each volume of a TaskRun attempt is a directory: `emptyDir` a fresh one (shared by the
//! attempt's steps and sidecars), `configMap`, `secret` and `projected` one holding the keys
//! of those documents (found among the files given to runnel) as files, `hostPath` the host
//! path itself, and `persistentVolumeClaim` one directory per claim name and run, shared by
//! every TaskRun of the run. Other volume types are refused with their name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use runnel_runner::Mount;

use super::scope::Scope;
use crate::load::Loaded;
use crate::model::k8s::{KeyToPath, Volume, VolumeMount};
use crate::model::{ObjectMeta, Resource};
use crate::subst::substitute;

/// The ConfigMaps and Secrets among the documents, by name: each key with its bytes.
#[derive(Debug, Default, Clone)]
pub struct Objects {
    config_maps: HashMap<String, Keys>,
    secrets: HashMap<String, Keys>,
}

fn name_of(meta: &ObjectMeta) -> String {
    meta.name
        .as_ref()
        .map_or_else(String::new, |n| n.value.clone())
}

impl Objects {
    /// Every ConfigMap and Secret of `loaded` (a Secret's `data` decoded from base64).
    pub fn from_loaded(loaded: &Loaded) -> Objects {
        let mut objects = Objects::default();
        for r in &loaded.resources {
            if let Some((config_map, name, keys)) = object_keys(&r.resource) {
                let map = if config_map {
                    &mut objects.config_maps
                } else {
                    &mut objects.secrets
                };
                map.insert(name, keys);
            }
        }
        objects
    }

    /// The keys of the ConfigMap (or Secret) `name`, if the documents hold it.
    pub fn keys(&self, config_map: bool, name: &str) -> Option<&[(String, Vec<u8>)]> {
        let map = if config_map {
            &self.config_maps
        } else {
            &self.secrets
        };
        map.get(name).map(Vec::as_slice)
    }
}

/// The keys of a ConfigMap or Secret, each with its bytes.
pub type Keys = Vec<(String, Vec<u8>)>;

/// A ConfigMap's or Secret's keys with their bytes: `(is a ConfigMap, name, keys)`.
fn object_keys(resource: &Resource) -> Option<(bool, String, Keys)> {
    let (config_map, meta, text, encoded) = match resource {
        Resource::ConfigMap(c) => (true, &c.metadata, &c.data, &c.binary_data),
        Resource::Secret(s) => (false, &s.metadata, &s.string_data, &s.data),
        _ => return None,
    };
    let mut keys: Vec<(String, Vec<u8>)> = encoded
        .iter()
        .map(|(k, v)| (k.clone(), decode(&v.value)))
        .collect();
    keys.extend(
        text.iter()
            .map(|(k, v)| (k.clone(), v.value.clone().into_bytes())),
    );
    Some((config_map, name_of(meta), keys))
}

/// The keys of the ConfigMap (or Secret) `name` among the documents, `None` when there is
/// none (the first such document wins).
pub(super) fn keys_in(loaded: &Loaded, config_map: bool, name: &str) -> Option<Keys> {
    loaded.resources.iter().find_map(|r| {
        object_keys(&r.resource)
            .filter(|(cm, n, _)| *cm == config_map && n == name)
            .map(|(_, _, keys)| keys)
    })
}

/// With `items`, only the keys listed, each at its `path` (as Kubernetes projects them);
/// without, every key at its own name.
pub(super) fn select<'a>(
    keys: &'a [(String, Vec<u8>)],
    items: &'a [KeyToPath],
) -> Vec<(&'a str, &'a [u8])> {
    if items.is_empty() {
        return keys
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
    }
    items
        .iter()
        .filter_map(|item| {
            let (_, data) = keys.iter().find(|(k, _)| *k == item.key.value)?;
            Some((item.path.value.as_str(), data.as_slice()))
        })
        .collect()
}

/// Writes `files` (relative path, bytes) under `dir`, creating directories.
pub(super) fn write_files<'a>(
    dir: &Path,
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<(), String> {
    make(dir)?;
    for (path, data) in files {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            make(parent)?;
        }
        std::fs::write(&file, data).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    }
    Ok(())
}

/// Base64 as Kubernetes writes it; what does not decode is taken as it is.
fn decode(text: &str) -> Vec<u8> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .unwrap_or_else(|_| text.as_bytes().to_vec())
}

/// The host directory of each volume of a TaskRun attempt, by name.
#[derive(Debug, Default)]
pub(super) struct Volumes(HashMap<String, PathBuf>);

/// Makes the host directories of `volumes` under `dir` (claims under `claims`), with
/// `$(…)` in names and paths substituted from `scope`. Errs with a message for the user.
pub(super) fn prepare(
    volumes: &[Volume],
    objects: &Objects,
    dir: &Path,
    claims: &Path,
    scope: &Scope,
) -> Result<Volumes, String> {
    let mut out = HashMap::new();
    for v in volumes {
        let name = v.name.value.clone();
        let text = |s: &crate::Spanned<String>| substitute(s, scope);
        let own = dir.join(&name);
        let host = if v.empty_dir.is_some() {
            make(&own)?
        } else if let Some(hp) = &v.host_path {
            PathBuf::from(text(&hp.path))
        } else if let Some(pvc) = &v.persistent_volume_claim {
            make(&claims.join(text(&pvc.claim_name)))?
        } else if let Some(cm) = &v.config_map {
            let object = cm.name.as_ref().map(text).unwrap_or_default();
            let optional = cm.optional.unwrap_or(false);
            write_keys(&own, objects, true, &object, &cm.items, optional, &name)?
        } else if let Some(s) = &v.secret {
            let object = s.secret_name.as_ref().map(text).unwrap_or_default();
            let optional = s.optional.unwrap_or(false);
            write_keys(&own, objects, false, &object, &s.items, optional, &name)?
        } else if let Some(projected) = &v.projected {
            make(&own)?;
            for source in &projected.sources {
                if let Some(cm) = &source.config_map {
                    let object = cm.name.as_ref().map(text).unwrap_or_default();
                    write_keys(&own, objects, true, &object, &cm.items, false, &name)?;
                } else if let Some(s) = &source.secret {
                    let object = s.name.as_ref().map(text).unwrap_or_default();
                    write_keys(&own, objects, false, &object, &s.items, false, &name)?;
                }
            }
            own
        } else {
            return Err(format!(
                "volume `{name}`: runnel supports emptyDir, hostPath, configMap, secret, projected and persistentVolumeClaim volumes"
            ));
        };
        out.insert(name, host);
    }
    Ok(Volumes(out))
}

fn make(dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir.to_path_buf())
}

/// Writes the keys of a ConfigMap or Secret into `dir` (with `items`, only those, each at
/// its path), as Kubernetes mounts them.
fn write_keys(
    dir: &Path,
    objects: &Objects,
    config_map: bool,
    object: &str,
    items: &[KeyToPath],
    optional: bool,
    volume: &str,
) -> Result<PathBuf, String> {
    make(dir)?;
    let kind = if config_map { "ConfigMap" } else { "Secret" };
    let Some(keys) = objects.keys(config_map, object) else {
        if optional {
            return Ok(dir.to_path_buf());
        }
        return Err(format!(
            "volume `{volume}` mounts the {kind} `{object}`, which is not in the files"
        ));
    };
    write_files(dir, select(keys, items))?;
    Ok(dir.to_path_buf())
}

/// The mounts of a step's (or sidecar's) `volumeMounts`.
pub(super) fn mounts(
    volumes: &Volumes,
    mounts: &[VolumeMount],
    scope: &Scope,
    who: &str,
) -> Result<Vec<Mount>, String> {
    mounts
        .iter()
        .map(|m| {
            let name = m.name.value.as_str();
            let host = volumes.0.get(name).ok_or_else(|| {
                format!("{who} mounts the volume `{name}`, which the Task does not declare")
            })?;
            let host = match m.sub_path.as_ref().map(|s| substitute(s, scope)) {
                Some(sub) if !sub.is_empty() => make(&host.join(sub))?,
                _ => host.clone(),
            };
            Ok(Mount {
                host_path: host,
                mount_path: substitute(&m.mount_path, scope),
                read_only: m.read_only.unwrap_or(false),
            })
        })
        .collect()
}
