defmodule Linx.Netlink.Rtnl.HwAddr do
  @moduledoc """
  Link-layer address codec for `IFLA_ADDRESS`, `IFLA_BROADCAST`, `IFLA_PERM_ADDRESS` and
  `NDA_LLADDR`. A 6-byte address decodes to `%Linx.MAC{}`; any other length (4 bytes for
  ipip/gre, 16 for ip6tnl, 20 for InfiniBand) stays the raw binary, and an empty one is
  `nil`. It never raises on kernel input.

      iex> Linx.Netlink.Rtnl.HwAddr.decode(<<2, 0, 0, 0, 0, 1>>)
      %Linx.MAC{bytes: <<2, 0, 0, 0, 0, 1>>}
      iex> Linx.Netlink.Rtnl.HwAddr.decode(<<10, 0, 0, 1>>)
      <<10, 0, 0, 1>>
      iex> Linx.Netlink.Rtnl.HwAddr.decode(<<>>)
      nil
  """

  @type t :: Linx.MAC.t() | binary()

  @doc "Decodes a link-layer address of any length."
  @spec decode(binary()) :: t() | nil
  def decode(<<>>), do: nil
  def decode(<<_::binary-size(6)>> = bytes), do: %Linx.MAC{bytes: bytes}
  def decode(bytes) when is_binary(bytes), do: bytes

  @doc "Encodes a `%Linx.MAC{}`, a `\"aa:bb:...\"` string or raw bytes."
  @spec encode(t() | String.t()) :: binary()
  def encode(%Linx.MAC{bytes: bytes}), do: bytes

  def encode(text) when is_binary(text) do
    if String.contains?(text, ":") and String.printable?(text) do
      case Linx.MAC.parse(text) do
        {:ok, mac} -> mac.bytes
        {:error, _} -> raise ArgumentError, "invalid MAC address: #{inspect(text)}"
      end
    else
      text
    end
  end
end
