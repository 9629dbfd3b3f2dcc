//! Shared by the two stand-in test files (one schema section per process).

use gst::prelude::*;

pub fn set_failure(mode: Option<&str>) {
    match mode {
        Some(m) => std::env::set_var(tdnvencstandin::FAIL_ENV, m),
        None => std::env::remove_var(tdnvencstandin::FAIL_ENV),
    }
}

/// The stand-in's own properties (not GstBin's/GstElement's) equal the schema's, name for name, with
/// the same enum nicks.
pub fn assert_exact_schema(section: &str) {
    let schema = tdnvencstandin::schema(section).expect("schema");
    let mut checked = 0;
    for e in schema
        .elements
        .iter()
        .filter(|e| !e.name.starts_with("nvd3d11"))
    {
        let element = gst::ElementFactory::make(&e.name)
            .build()
            .expect("stand-in element");
        let mut own: Vec<String> = element
            .list_properties()
            .iter()
            .filter(|p| {
                !p.owner_type().is_a(gst::Bin::static_type())
                    || p.owner_type() != gst::Bin::static_type()
            })
            .filter(|p| {
                ![
                    gst::Bin::static_type(),
                    gst::Element::static_type(),
                    gst::Object::static_type(),
                ]
                .contains(&p.owner_type())
            })
            .map(|p| p.name().to_string())
            .collect();
        own.sort();
        let want: Vec<String> = e.props.iter().map(|p| p.name.clone()).collect();
        assert_eq!(
            own, want,
            "{section} {}: properties differ from the schema",
            e.name
        );
        for p in &e.props {
            if let Some(values) = schema.enums.get(&p.type_name) {
                let pspec = element.find_property(&p.name).expect("prop");
                let class = gst::glib::EnumClass::with_type(pspec.value_type()).expect("enum");
                let nicks: Vec<_> = class
                    .values()
                    .iter()
                    .map(|v| v.nick().to_string())
                    .collect();
                let want: Vec<_> = values.iter().map(|v| v.0.clone()).collect();
                assert_eq!(nicks, want, "{section} {}.{}", e.name, p.name);
            }
        }
        assert!(element
            .metadata(gst::ELEMENT_METADATA_LONGNAME)
            .is_some_and(|l| l.contains("TEST STAND-IN")));
        checked += 1;
    }
    assert!(checked >= 4, "{checked}");
}
