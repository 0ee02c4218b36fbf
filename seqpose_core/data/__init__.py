"""NOCS datasets: file formats, frames with derived targets, video clips, transforms, collate."""
