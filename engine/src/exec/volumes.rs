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
    config_maps: HashMap<String, Vec<(String, Vec<u8>)>>,
    secrets: HashMap<String, Vec<(String, Vec<u8>)>>,
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
            match &r.resource {
                Resource::ConfigMap(c) => {
                    let mut keys: Vec<(String, Vec<u8>)> = c
                        .data
                        .iter()
                        .map(|(k, v)| (k.clone(), v.value.clone().into_bytes()))
                        .collect();
                    keys.extend(
                        c.binary_data
                            .iter()
                            .map(|(k, v)| (k.clone(), decode(&v.value))),
                    );
                    objects.config_maps.insert(name_of(&c.metadata), keys);
                }
                Resource::Secret(s) => {
                    let mut keys: Vec<(String, Vec<u8>)> = s
                        .data
                        .iter()
                        .map(|(k, v)| (k.clone(), decode(&v.value)))
                        .collect();
                    keys.extend(
                        s.string_data
                            .iter()
                            .map(|(k, v)| (k.clone(), v.value.clone().into_bytes())),
                    );
                    objects.secrets.insert(name_of(&s.metadata), keys);
                }
                _ => {}
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
    let chosen: Vec<(&str, &[u8])> = if items.is_empty() {
        keys.iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect()
    } else {
        items
            .iter()
            .filter_map(|item| {
                let (_, data) = keys.iter().find(|(k, _)| *k == item.key.value)?;
                Some((item.path.value.as_str(), data.as_slice()))
            })
            .collect()
    };
    for (path, data) in chosen {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            make(parent)?;
        }
        std::fs::write(&file, data).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    }
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
