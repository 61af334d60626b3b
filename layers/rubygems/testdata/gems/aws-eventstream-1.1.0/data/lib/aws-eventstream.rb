# frozen_string_literal: true

# A stand-in for aws-eventstream written for rtbuild's tests (not the published gem).
module Aws
  module EventStream
    VERSION = '1.1.0'
  end
end
