"""The SeqPose network: encoder and depth decoder, auxiliary heads, STSQ decoder, pose head, losses."""
