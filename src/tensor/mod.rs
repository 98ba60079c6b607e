//! Tensors: contiguous f32 data on a [`Device`], and the ops over them.
//!
//! A tensor is a shared storage, an element offset into it and a shape (row-major,
//! contiguous). Cloning is cheap and shares the storage; views (`reshape`, `view_range`) share
//! it too. On the GPU every op *records* its dispatches into the device's command stream and
//! returns at once; reading a tensor back ([`Tensor::to_vec`]) submits and waits. On the CPU
//! the same ops run the plain-Rust twins in `crate::cpu`, in f32 ([`Device::Cpu`]) or f64
//! ([`Device::CpuF64`]).

pub mod ops;

use crate::cpu::Real;
use crate::device::{Device, Gpu, GpuBuffer};
use crate::error::{Error, Result};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub(crate) enum Storage {
    Gpu { buffer: GpuBuffer, gpu: Arc<Gpu> },
    Cpu(RwLock<Vec<f32>>),
    Cpu64(RwLock<Vec<f64>>),
}

impl Drop for Storage {
    fn drop(&mut self) {
        match self {
            Storage::Cpu(v) => crate::profile::cpu_free((read(v).len() * 4) as u64),
            Storage::Cpu64(v) => crate::profile::cpu_free((read(v).len() * 8) as u64),
            Storage::Gpu { .. } => {}
        }
    }
}

/// An n-dimensional array of f32 (f64 on [`Device::CpuF64`]) on one device.
#[derive(Clone)]
pub struct Tensor {
    storage: Arc<Storage>,
    offset: usize,
    shape: Vec<usize>,
}

/// Number of elements of a shape.
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

impl Tensor {
    pub(crate) fn from_storage(storage: Storage, shape: &[usize]) -> Tensor {
        match &storage {
            Storage::Cpu(v) => crate::profile::cpu_alloc((read(v).len() * 4) as u64),
            Storage::Cpu64(v) => crate::profile::cpu_alloc((read(v).len() * 8) as u64),
            Storage::Gpu { .. } => {}
        }
        Tensor { storage: Arc::new(storage), offset: 0, shape: shape.to_vec() }
    }

    /// A tensor holding `data` with shape `shape`.
    ///
    /// # Errors
    /// [`Error::Shape`] if `data.len()` differs from the shape's element count; GPU
    /// allocation errors.
    pub fn from_slice(device: &Device, data: &[f32], shape: &[usize]) -> Result<Tensor> {
        if data.len() != numel(shape) {
            return Err(Error::shape("from_slice", format!("{} values for shape {shape:?}", data.len())));
        }
        let storage = match device {
            Device::Gpu(g) => Storage::Gpu { buffer: g.upload(bytemuck::cast_slice(data))?, gpu: g.clone() },
            Device::Cpu => Storage::Cpu(RwLock::new(data.to_vec())),
            Device::CpuF64 => Storage::Cpu64(RwLock::new(data.iter().map(|&v| f64::from(v)).collect())),
        };
        Ok(Tensor::from_storage(storage, shape))
    }

    /// A tensor from f64 values (exact on [`Device::CpuF64`], rounded to f32 elsewhere).
    ///
    /// # Errors
    /// As [`Tensor::from_slice`].
    pub fn from_f64(device: &Device, data: &[f64], shape: &[usize]) -> Result<Tensor> {
        if let Device::CpuF64 = device {
            if data.len() != numel(shape) {
                return Err(Error::shape("from_f64", format!("{} values for shape {shape:?}", data.len())));
            }
            return Ok(Tensor::from_storage(Storage::Cpu64(RwLock::new(data.to_vec())), shape));
        }
        let v: Vec<f32> = data.iter().map(|&x| x as f32).collect();
        Tensor::from_slice(device, &v, shape)
    }

    /// A tensor of zeros.
    ///
    /// # Errors
    /// GPU allocation errors.
    pub fn zeros(device: &Device, shape: &[usize]) -> Result<Tensor> {
        Tensor::full(device, shape, 0.0)
    }

    /// A tensor filled with `value`.
    ///
    /// # Errors
    /// GPU allocation errors.
    pub fn full(device: &Device, shape: &[usize], value: f32) -> Result<Tensor> {
        let n = numel(shape);
        match device {
            Device::Gpu(g) => {
                let t = Tensor::uninit(g, shape)?;
                if value == 0.0 {
                    g.zero(t.buffer(), 0, (n * 4) as u64)?;
                } else {
                    ops::fill(&t, value)?;
                }
                Ok(t)
            }
            Device::Cpu => Ok(Tensor::from_storage(Storage::Cpu(RwLock::new(vec![value; n])), shape)),
            Device::CpuF64 => Ok(Tensor::from_storage(Storage::Cpu64(RwLock::new(vec![f64::from(value); n])), shape)),
        }
    }

    /// A GPU tensor with undefined contents (every op overwrites its output).
    pub(crate) fn uninit(gpu: &Arc<Gpu>, shape: &[usize]) -> Result<Tensor> {
        let buffer = gpu.alloc((numel(shape) * 4) as u64)?;
        Ok(Tensor::from_storage(Storage::Gpu { buffer, gpu: gpu.clone() }, shape))
    }

    /// The device the tensor lives on.
    pub fn device(&self) -> Device {
        match &*self.storage {
            Storage::Gpu { gpu, .. } => Device::Gpu(gpu.clone()),
            Storage::Cpu(_) => Device::Cpu,
            Storage::Cpu64(_) => Device::CpuF64,
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Size of the last dimension (1 for a scalar).
    pub fn last_dim(&self) -> usize {
        self.shape.last().copied().unwrap_or(1)
    }

    /// Element offset into the storage.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Whether two tensors share storage.
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }

    /// The same data with another shape of equal element count (no copy).
    ///
    /// # Errors
    /// [`Error::Shape`] if the element counts differ.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if numel(shape) != self.numel() {
            return Err(Error::shape("reshape", format!("{:?} ({} elements) to {shape:?}", self.shape, self.numel())));
        }
        Ok(Tensor { storage: self.storage.clone(), offset: self.offset, shape: shape.to_vec() })
    }

    /// Rows `start..end` of the leading dimension (no copy).
    ///
    /// # Errors
    /// [`Error::Shape`] for an empty shape or an out-of-range span.
    pub fn view_range(&self, start: usize, end: usize) -> Result<Tensor> {
        let lead = *self.shape.first().ok_or_else(|| Error::shape("view_range", "scalar tensor"))?;
        if start > end || end > lead {
            return Err(Error::shape("view_range", format!("rows {start}..{end} of {:?}", self.shape)));
        }
        let row = self.numel() / lead.max(1);
        let mut shape = self.shape.clone();
        shape[0] = end - start;
        Ok(Tensor { storage: self.storage.clone(), offset: self.offset + start * row, shape })
    }

    /// A flat view of `len` elements starting at element `start` of this tensor (no copy).
    ///
    /// # Errors
    /// [`Error::Shape`] if the span exceeds the tensor.
    pub fn view_flat(&self, start: usize, shape: &[usize]) -> Result<Tensor> {
        if start + numel(shape) > self.numel() {
            return Err(Error::shape("view_flat", format!("{shape:?} at {start} of {:?}", self.shape)));
        }
        Ok(Tensor { storage: self.storage.clone(), offset: self.offset + start, shape: shape.to_vec() })
    }

    /// Copies the data to host memory as f32 (submitting and waiting on the GPU).
    ///
    /// # Errors
    /// GPU errors captured while computing the tensor.
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        let n = self.numel();
        match &*self.storage {
            Storage::Gpu { buffer, gpu } => {
                let bytes = gpu.read(buffer, (self.offset * 4) as u64, (n * 4) as u64)?;
                Ok(bytemuck::pod_collect_to_vec(&bytes))
            }
            Storage::Cpu(v) => Ok(read(v)[self.offset..self.offset + n].to_vec()),
            Storage::Cpu64(v) => Ok(read(v)[self.offset..self.offset + n].iter().map(|&x| x as f32).collect()),
        }
    }

    /// Copies the data to host memory as f64.
    ///
    /// # Errors
    /// As [`Tensor::to_vec`].
    pub fn to_vec64(&self) -> Result<Vec<f64>> {
        match &*self.storage {
            Storage::Cpu64(v) => Ok(read(v)[self.offset..self.offset + self.numel()].to_vec()),
            _ => Ok(self.to_vec()?.into_iter().map(f64::from).collect()),
        }
    }

    /// The single value of a one-element tensor.
    ///
    /// # Errors
    /// [`Error::Shape`] if the tensor has more than one element; read-back errors.
    pub fn item(&self) -> Result<f64> {
        if self.numel() != 1 {
            return Err(Error::shape("item", format!("tensor of shape {:?}", self.shape)));
        }
        Ok(self.to_vec64()?[0])
    }

    /// The GPU buffer (panics on CPU tensors: only GPU launchers call it).
    pub(crate) fn buffer(&self) -> &GpuBuffer {
        match &*self.storage {
            Storage::Gpu { buffer, .. } => buffer,
            _ => unreachable!("buffer() on a CPU tensor"),
        }
    }

    /// Marks a GPU tensor's buffer as read by many kernels between writes (parameters), so
    /// kernels that can read it through a texture mirror do ([`GpuBuffer::set_read_mostly`]).
    /// No effect on the CPU devices.
    pub fn mark_read_mostly(&self) {
        if let Storage::Gpu { buffer, .. } = &*self.storage {
            buffer.set_read_mostly();
        }
    }

    /// Whether no other tensor shares this one's storage (so it may be updated in place).
    pub(crate) fn is_exclusive(&self) -> bool {
        Arc::strong_count(&self.storage) == 1
    }

    /// Element offset as the u32 kernels take.
    pub(crate) fn off(&self) -> u32 {
        self.offset as u32
    }

    /// Overwrites this tensor's elements with f64 values (exact on [`Device::CpuF64`], rounded
    /// to f32 elsewhere).
    ///
    /// # Errors
    /// As [`Tensor::write`].
    pub fn write_f64(&self, data: &[f64]) -> Result<()> {
        if let Storage::Cpu64(v) = &*self.storage {
            if data.len() != self.numel() {
                return Err(Error::shape("write_f64", format!("{} values into {:?}", data.len(), self.shape)));
            }
            write(v)[self.offset..self.offset + data.len()].copy_from_slice(data);
            return Ok(());
        }
        self.write(&data.iter().map(|&x| x as f32).collect::<Vec<_>>())
    }

    /// Overwrites this tensor's elements with `data` (ordered after recorded work on the GPU).
    ///
    /// # Errors
    /// [`Error::Shape`] on a length mismatch; GPU errors.
    pub fn write(&self, data: &[f32]) -> Result<()> {
        if data.len() != self.numel() {
            return Err(Error::shape("write", format!("{} values into {:?}", data.len(), self.shape)));
        }
        match &*self.storage {
            Storage::Gpu { buffer, gpu } => gpu.write(buffer, (self.offset * 4) as u64, bytemuck::cast_slice(data)),
            Storage::Cpu(v) => {
                write(v)[self.offset..self.offset + data.len()].copy_from_slice(data);
                Ok(())
            }
            Storage::Cpu64(v) => {
                write(v)[self.offset..self.offset + data.len()]
                    .iter_mut()
                    .zip(data)
                    .for_each(|(a, &b)| *a = f64::from(b));
                Ok(())
            }
        }
    }
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor({:?} on {}, offset {})", self.shape, self.device().kind(), self.offset)
    }
}

/// Checks that all tensors live on `first`'s device.
pub(crate) fn same_device(op: &'static str, ts: &[&Tensor]) -> Result<Device> {
    let d = ts[0].device();
    for t in &ts[1..] {
        if !t.device().same(&d) {
            return Err(Error::DeviceMismatch { op, msg: format!("{} and {}", d.describe(), t.device().describe()) });
        }
    }
    Ok(d)
}

/// A borrowed CPU slice of a tensor.
pub(crate) struct CpuView<'a, T> {
    guard: RwLockReadGuard<'a, Vec<T>>,
    start: usize,
    len: usize,
}

impl<T> Deref for CpuView<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.guard[self.start..self.start + self.len]
    }
}

/// A mutably borrowed CPU slice of a tensor (in-place updates such as optimiser steps).
pub(crate) struct CpuViewMut<'a, T> {
    guard: RwLockWriteGuard<'a, Vec<T>>,
    start: usize,
    len: usize,
}

impl<T> Deref for CpuViewMut<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.guard[self.start..self.start + self.len]
    }
}

impl<T> DerefMut for CpuViewMut<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.guard[self.start..self.start + self.len]
    }
}

/// The element types of the CPU devices: each CPU op is written once, generic over `Elem`.
pub(crate) trait Elem: Real {
    /// Borrows the tensor's data (the tensor must live on this type's CPU device).
    fn view(t: &Tensor) -> CpuView<'_, Self>;
    /// Borrows the tensor's data mutably.
    fn view_mut(t: &Tensor) -> CpuViewMut<'_, Self>;
    /// Wraps a vector as a tensor on this type's CPU device.
    fn tensor(v: Vec<Self>, shape: &[usize]) -> Tensor;
}

macro_rules! impl_elem {
    ($t:ty, $variant:ident) => {
        impl Elem for $t {
            fn view(t: &Tensor) -> CpuView<'_, Self> {
                match &*t.storage {
                    Storage::$variant(v) => CpuView { guard: read(v), start: t.offset, len: t.numel() },
                    _ => unreachable!("tensor precision does not match the op's device"),
                }
            }
            fn view_mut(t: &Tensor) -> CpuViewMut<'_, Self> {
                match &*t.storage {
                    Storage::$variant(v) => CpuViewMut { guard: write(v), start: t.offset, len: t.numel() },
                    _ => unreachable!("tensor precision does not match the op's device"),
                }
            }
            fn tensor(v: Vec<Self>, shape: &[usize]) -> Tensor {
                Tensor::from_storage(Storage::$variant(RwLock::new(v)), shape)
            }
        }
    };
}
impl_elem!(f32, Cpu);
impl_elem!(f64, Cpu64);

/// Calls the generic CPU implementation `$f::<T>` with `T` the precision of CPU device `$dev`.
macro_rules! by_precision {
    ($dev:expr, $f:ident ( $($arg:expr),* $(,)? )) => {{
        let _scope = $crate::profile::cpu_scope(stringify!($f));
        match $dev {
            $crate::device::Device::Cpu => $f::<f32>($($arg),*),
            $crate::device::Device::CpuF64 => $f::<f64>($($arg),*),
            $crate::device::Device::Gpu(_) => unreachable!("by_precision on a GPU device"),
        }
    }};
}
pub(crate) use by_precision;
