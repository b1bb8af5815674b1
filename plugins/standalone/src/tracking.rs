//! The tracking link of a cluster-mode driver. A standalone master's UI has
//! no page per driver: it lists each driver with the worker it runs on, and
//! that worker's UI has the driver's page (`/logPage/?driverId=…`, its log).
//! So the link is the worker's driver page once the master's JSON view says
//! where the driver runs, and the master's UI (where the driver is listed)
//! before that. No I/O.

use drover_plugin_sdk::http::{encode_component, join};

use crate::master::MasterState;

/// The driver's page, from the master's JSON view (`GET {master_ui}/json/`);
/// `None` for a driver the view does not list.
pub fn driver_link(master: &MasterState, master_ui: &str, id: &str) -> Option<String> {
    let driver = master
        .activedrivers
        .iter()
        .chain(&master.completeddrivers)
        .find(|d| d.id == id)?;
    let worker_ui = driver
        .worker
        .as_deref()
        .map(str::trim)
        .filter(|w| !w.is_empty() && *w != "None")
        .and_then(|w| master.workers.iter().find(|x| x.id == w))
        .map(|w| w.webuiaddress.trim())
        .filter(|ui| ui.starts_with("http://") || ui.starts_with("https://"));
    Some(match worker_ui {
        Some(ui) => join(
            ui,
            &format!("/logPage/?driverId={}&logType=stderr", encode_component(id)),
        ),
        None => join(master_ui, "/"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_placed_driver_links_to_its_page_on_the_worker_else_to_the_master() {
        let master: MasterState = serde_json::from_value(json!({
            "workers": [{"id": "worker-1", "host": "10.0.0.5", "port": 7078,
                         "webuiaddress": "http://10.0.0.5:8081"}],
            "activedrivers": [
                {"id": "driver-1", "state": "RUNNING", "worker": "worker-1"},
                {"id": "driver-2", "state": "SUBMITTED", "worker": "None"}
            ],
            "completeddrivers": [{"id": "driver-3", "state": "FINISHED", "worker": "worker-gone"}]
        }))
        .unwrap();
        let ui = "http://master:8080";
        assert_eq!(
            driver_link(&master, ui, "driver-1").as_deref(),
            Some("http://10.0.0.5:8081/logPage/?driverId=driver-1&logType=stderr")
        );
        assert_eq!(driver_link(&master, ui, "driver-2").as_deref(), Some("http://master:8080/"));
        assert_eq!(driver_link(&master, ui, "driver-3").as_deref(), Some("http://master:8080/"));
        assert_eq!(driver_link(&master, ui, "driver-404"), None);
    }
}
