# frozen_string_literal: true

module Aws
  CORE_GEM_VERSION = File.read(File.expand_path('../../VERSION', __dir__)).strip
end
