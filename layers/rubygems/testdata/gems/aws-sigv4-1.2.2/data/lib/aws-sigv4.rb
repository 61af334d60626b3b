# frozen_string_literal: true

# A stand-in for aws-sigv4 written for rtbuild's tests (not the published gem).
require 'aws-eventstream'

module Aws
  module Sigv4
    VERSION = '1.2.2'
  end
end
