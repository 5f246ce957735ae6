//! A location's splash screen: the image its smart readers show while idle, uploaded to Stripe as
//! a File of purpose `terminal_reader_splashscreen` and set as `bbpos_wisepos_e[splashscreen]` on
//! the location's Terminal Configuration — the one its tipping uses (`flows::tipping`: a
//! configuration of ours named after the location is made when it has none). Stripe holds the
//! settings; nothing is stored here.

use super::tipping::{location_configuration, owned, NAME_PREFIX};
use super::Services;
use crate::error::Error;
use stripe_client::{
    ConfigurationParams, FilePurpose, StripeAccount, TerminalConfiguration, UploadFile,
};

/// An image for a reader's screen, checked by the caller: its bytes and their type.
pub struct SplashImage {
    pub bytes: Vec<u8>,
    pub kind: ImageKind,
}

/// What Stripe takes for a splash screen: JPEG and PNG less than 2 MB, GIF less than 4 MB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Jpeg,
    Png,
    Gif,
}

impl ImageKind {
    /// The kind of an image, from its first bytes (`None`: none of the three).
    pub fn sniff(bytes: &[u8]) -> Option<ImageKind> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageKind::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageKind::Png)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(ImageKind::Gif)
        } else {
            None
        }
    }

    /// Stripe's size limit: the image must be smaller.
    pub fn limit(self) -> usize {
        match self {
            ImageKind::Jpeg | ImageKind::Png => 2 * 1024 * 1024,
            ImageKind::Gif => 4 * 1024 * 1024,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Png => "image/png",
            ImageKind::Gif => "image/gif",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "jpg",
            ImageKind::Png => "png",
            ImageKind::Gif => "gif",
        }
    }
}

/// A location's splash screen as Stripe has it.
#[derive(Debug, Clone)]
pub struct LocationSplash {
    pub location: String,
    pub configuration_id: Option<String>,
    /// The File id (`None`: the readers show Stripe's default, or the account's).
    pub file: Option<String>,
}

fn of_stripe(location: &str, configuration: Option<&TerminalConfiguration>) -> LocationSplash {
    LocationSplash {
        location: location.to_string(),
        configuration_id: configuration.map(|c| c.id.clone()),
        file: configuration
            .and_then(|c| c.bbpos_wisepos_e.as_ref())
            .and_then(|d| d.splashscreen.as_ref())
            .map(|f| f.id().to_string()),
    }
}

async fn configuration_of(
    services: &Services,
    stripe_account: &StripeAccount,
    location: &str,
) -> Result<Option<TerminalConfiguration>, Error> {
    match location_configuration(services, stripe_account, location).await? {
        Some(id) => Ok(Some(
            services
                .stripe
                .retrieve_terminal_configuration(stripe_account, &id)
                .await?,
        )),
        None => Ok(None),
    }
}

/// `GET`: the location's splash screen.
pub async fn get(
    services: &Services,
    external_account_id: String,
    location: String,
) -> Result<LocationSplash, Error> {
    let (_, stripe_account) = owned(services, external_account_id, &location).await?;
    let configuration = configuration_of(services, &stripe_account, &location).await?;
    Ok(of_stripe(&location, configuration.as_ref()))
}

/// `PUT`: uploads the image and shows it on the location's readers (on its configuration, or a
/// new one of ours assigned to it).
pub async fn put(
    services: &Services,
    external_account_id: String,
    location: String,
    image: SplashImage,
) -> Result<LocationSplash, Error> {
    let (_, stripe_account) = owned(services, external_account_id, &location).await?;
    let key = |what: &str| format!("splash:{what}:{location}:{}", uuid::Uuid::new_v4());
    let filename = format!("splashscreen.{}", image.kind.extension());
    let file = services
        .stripe
        .upload_file(
            &stripe_account,
            &UploadFile {
                purpose: FilePurpose::TerminalReaderSplashscreen,
                filename: &filename,
                content_type: image.kind.content_type(),
                bytes: &image.bytes,
            },
            &key("file"),
        )
        .await
        .map_err(|e| Error::from_stripe_input(e, Some("file"), "image"))?;
    let params = ConfigurationParams {
        wisepos_e_splashscreen: Some(&file.id),
        ..Default::default()
    };
    let existing = configuration_of(services, &stripe_account, &location).await?;
    let configuration = super::tipping::set_on_location(
        services,
        &stripe_account,
        &location,
        existing.map(|c| c.id).as_deref(),
        params,
        key,
    )
    .await?;
    Ok(of_stripe(&location, Some(&configuration)))
}

/// `DELETE`: the location's readers go back to the default splash screen. A configuration of ours
/// with nothing else (no tipping) is deleted; otherwise only its splash screen is unset.
pub async fn delete(
    services: &Services,
    external_account_id: String,
    location: String,
) -> Result<LocationSplash, Error> {
    let (_, stripe_account) = owned(services, external_account_id, &location).await?;
    let Some(configuration) = configuration_of(services, &stripe_account, &location).await? else {
        return Ok(of_stripe(&location, None));
    };
    let ours = configuration
        .name
        .as_deref()
        .is_some_and(|n| n == format!("{NAME_PREFIX} {location}"));
    let tipping = configuration
        .tipping
        .as_ref()
        .is_some_and(|t| !t.is_empty());
    if ours && !tipping {
        services
            .stripe
            .delete_terminal_configuration(&stripe_account, &configuration.id)
            .await?;
        return Ok(of_stripe(&location, None));
    }
    let kept = services
        .stripe
        .update_terminal_configuration(
            &stripe_account,
            &configuration.id,
            &ConfigurationParams {
                wisepos_e_splashscreen: Some(""),
                ..Default::default()
            },
            &format!("splash:unset:{location}:{}", uuid::Uuid::new_v4()),
        )
        .await?;
    Ok(of_stripe(&location, Some(&kept)))
}
