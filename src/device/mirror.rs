//! Texture mirrors of storage buffers ([`super::Access::Texture`]).
//!
//! A kernel that declares a binding as a texture reads the buffer through an `rgba32float`
//! texture holding the same bytes, [`TEXTURE_ROW`] texels per row. The mirror belongs to the
//! buffer (it is dropped with it) and remembers the buffer's write count at its last copy; a
//! dispatch binding it records a fresh buffer-to-texture copy first if the buffer was written
//! since, so kernels always see the buffer's current contents, in stream order.

use super::pipeline::TEXTURE_ROW;
use super::pool::GpuBuffer;
use crate::error::{Error, Result};

const ROW_BYTES: u64 = TEXTURE_ROW as u64 * 16;

pub(crate) struct Mirror {
    writes: u64,
    texture: wgpu::Texture,
    view: wgpu::TextureView,
}

impl Mirror {
    /// Device memory of the texture.
    pub(crate) fn bytes(&self) -> u64 {
        u64::from(self.texture.height()) * ROW_BYTES
    }
}

/// Texture rows of the mirror of a buffer of `bytes` bytes.
fn rows(bytes: u64) -> u64 {
    bytes.div_ceil(ROW_BYTES).max(1)
}

/// Checks that the mirror of a buffer of `bytes` bytes fits the adapter's 2-D textures.
///
/// # Errors
/// [`Error::LimitExceeded`] when it needs more rows than `max_rows`.
pub(crate) fn check(bytes: u64, max_rows: u32) -> Result<()> {
    let need = rows(bytes);
    if need > u64::from(max_rows) {
        return Err(Error::LimitExceeded {
            what: format!("texture rows to mirror a buffer of {bytes} bytes"),
            requested: need,
            limit: max_rows.into(),
        });
    }
    Ok(())
}

/// The mirror of `buf` as of the commands recorded so far. `encoder` gives the stream's
/// encoder with any compute pass closed, called only when a copy is needed.
pub(crate) fn view<'e>(
    device: &wgpu::Device,
    buf: &GpuBuffer,
    encoder: impl FnOnce() -> &'e mut wgpu::CommandEncoder,
) -> wgpu::TextureView {
    let mut slot = buf.mirror.lock().unwrap_or_else(|p| p.into_inner());
    let writes = buf.writes();
    if let Some(m) = slot.as_ref().filter(|m| m.writes == writes) {
        return m.view.clone();
    }
    let height = rows(buf.size()) as u32;
    let mirror = slot.take().unwrap_or_else(|| {
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("vdd buffer mirror"),
            size: wgpu::Extent3d { width: TEXTURE_ROW, height, depth_or_array_layers: 1 },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba32Float,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        buf.account_mirror(u64::from(height) * ROW_BYTES);
        Mirror { writes, texture, view }
    });
    let encoder = encoder();
    let full = buf.size() / ROW_BYTES;
    let rest = buf.size() % ROW_BYTES; // a multiple of 256 bytes (the pool's granule)
    let mut copy = |row: u64, texels: u64, rows: u64| {
        encoder.copy_buffer_to_texture(
            wgpu::TexelCopyBufferInfo {
                buffer: buf.raw(),
                layout: wgpu::TexelCopyBufferLayout {
                    offset: row * ROW_BYTES,
                    bytes_per_row: Some((texels * 16) as u32),
                    rows_per_image: Some(rows as u32),
                },
            },
            wgpu::TexelCopyTextureInfo {
                texture: &mirror.texture,
                mip_level: 0,
                origin: wgpu::Origin3d { x: 0, y: row as u32, z: 0 },
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::Extent3d { width: texels as u32, height: rows as u32, depth_or_array_layers: 1 },
        );
    };
    if full > 0 {
        copy(0, u64::from(TEXTURE_ROW), full);
    }
    if rest > 0 {
        copy(full, rest / 16, 1);
    }
    let view = mirror.view.clone();
    *slot = Some(Mirror { writes, ..mirror });
    view
}
